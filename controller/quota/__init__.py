"""Account quota: the last known state of each account's usage windows and the routing strategy."""
