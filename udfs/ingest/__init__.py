"""Ingest: the Kafka source, event time with clock-skew bounds, the contract check (SQL) and
the dead letters of rejected records."""
