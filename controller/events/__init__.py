"""The event log: the bus, the typed event kinds and the recovery of cut-off requests."""
