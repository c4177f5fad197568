"""Speed and memory benchmarks; each comparison runs both sides in one process and prints the ratio."""
