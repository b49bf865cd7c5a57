"""Sinks: the exactly-once Kafka outputs, their size guard and the submission preflight."""
