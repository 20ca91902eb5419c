"""Monitoring: the health check, the metrics and events endpoints, and the dashboard."""
