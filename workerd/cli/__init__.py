"""The CLI path: invocation, process, stream parsing, sessions and warm pool, MCP bridge, reaper."""
