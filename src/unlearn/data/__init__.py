"""Benchmark records, splits, prompt formatting and batching."""
