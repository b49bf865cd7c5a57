"""Windows: per-camera tumbling event-time windows in SQL, then WindowStats in Python."""
