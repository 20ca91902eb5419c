"""The Messages API path: the anthropic SDK, request building and stream translation."""
