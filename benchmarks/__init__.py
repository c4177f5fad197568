"""Benchmarks: learning results, speed and memory, each a script anyone can rerun."""
