"""The Messages API path: the call's body, the upstream client, its errors and the runner."""
