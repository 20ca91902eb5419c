"""`make bench`: benchmarks that report ratios measured side by side in one run."""
