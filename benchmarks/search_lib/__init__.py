"""Helpers of benchmarks/search.py: tasks and pools, ground truth, replay, live check, analysis, report."""
