"""The one Anthropic codec both worker kinds use: content blocks out, stream events in."""
