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
    reach the producer (GUARD_SIZE in jvm/udf, the same rule in SQL).
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
