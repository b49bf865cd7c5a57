"""Message size limits of the product: the only place they are spelled out.

One record limit for every Kafka producer (detector, simulator, the job's sinks), one broker
and topic limit above it; the local broker (stack/services.py), the k8s Kafka cluster and
topics (k8s/base/kafka/) and the job's sink producers all read or are checked against these
(tests/unit/test_limits.py; every rendered k8s overlay, with the job's and the detector's
settings as deployed: tests/unit/k8s/test_message_limits.py), so no record that one part
accepts is refused by another.
"""

from __future__ import annotations

# Broker `message.max.bytes` and topic `max.message.bytes`: the largest record batch stored.
BROKER_MAX_MESSAGE_BYTES = 2 * 1024 * 1024
# The largest record a producer may send: a batch adds headers (~70 bytes per record
# batch); the margin keeps one record plus its batch below the broker's limit.
MAX_RECORD_BYTES = BROKER_MAX_MESSAGE_BYTES - 64 * 1024
# Producer `max.request.size` (Java) / `message.max.bytes` (librdkafka).
PRODUCER_MAX_REQUEST_BYTES = MAX_RECORD_BYTES
