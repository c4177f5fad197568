"""Learning benchmarks: agents on reference tasks (sanity anchors)."""
