"""The controller process: admission, scheduling, accounting and the event log, over gRPC."""
