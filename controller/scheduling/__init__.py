"""Admission and placement: fair queue, affinity, rate limits, cooldowns, routing, one run."""
