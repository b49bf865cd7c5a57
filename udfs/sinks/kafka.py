"""Kafka sinks of the job, in Flink SQL: exactly-once, keyed (key, JSON value) tables."""

from __future__ import annotations

from contract import limits


def kafka_sink_ddl(
    table: str,
    topic: str,
    bootstrap: str,
    transactional_id_prefix: str,
    extra_properties: tuple[tuple[str, str], ...] = (),
) -> str:
    """A keyed, exactly-once Kafka sink of (key, JSON value) rows.

    Records become visible to read_committed consumers when the checkpoint that covers
    them completes; the transaction timeout must exceed the checkpoint interval. The
    producer's request limit is the product's one message limit (contract.limits), the same
    the local broker and the k8s topics allow; records are checked against it before they
    reach the producer (udfs.sinks.flink.GuardSize).
    """
    given = dict(extra_properties)
    given.setdefault("max.request.size", str(limits.PRODUCER_MAX_REQUEST_BYTES))
    props = "".join(f",\n  'properties.{k}' = '{v}'" for k, v in given.items())
    return f"""
CREATE TEMPORARY TABLE {table} (
  `k` STRING,
  `v` STRING
) WITH (
  'connector' = 'kafka',
  'topic' = '{topic}',
  'properties.bootstrap.servers' = '{bootstrap}',
  'properties.transaction.timeout.ms' = '900000',
  'key.format' = 'raw',
  'key.fields' = 'k',
  'value.format' = 'raw',
  'value.fields-include' = 'EXCEPT_KEY',
  'sink.delivery-guarantee' = 'exactly-once',
  'sink.transactional-id-prefix' = '{transactional_id_prefix}-{topic}'{props}
)"""


def oversized_for_sink(
    sink: str, topic: str, key: str | None, value: str, limit: int
) -> str | None:
    """Why the (key, value) record cannot be produced to ``topic``, or None when it fits.

    Counts the UTF-8 bytes of key and value; a producer refuses a record whose serialised
    size exceeds its `max.request.size`. Dead letters are keyed `partition:offset`, so the
    message names the source record."""
    key = key or ""
    if 4 * (len(value) + len(key)) <= limit:  # UTF-8 is at most 4 bytes a character
        return None
    size = len(value.encode()) + len(key.encode())
    if size <= limit:
        return None
    return (
        f"sink {sink} (topic {topic}): record with key {key!r} is {size} bytes, over the "
        f"producer limit max.request.size={limit} (contract/limits.py, --kafka-property)"
    )
