"""The Messages API path: request building, the upstream client and stream translation."""
