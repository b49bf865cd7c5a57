"""The local stack's ports and endpoints: the product's defaults (contract.endpoints)."""

from contract.endpoints import (
    DEFAULT_FLINK_REST_PORT,
    DEFAULT_KAFKA_CONTROLLER_PORT,
    DEFAULT_KAFKA_PORT,
    DEFAULT_REDIS_PORT,
    Endpoints,
)

__all__ = [
    "DEFAULT_FLINK_REST_PORT",
    "DEFAULT_KAFKA_CONTROLLER_PORT",
    "DEFAULT_KAFKA_PORT",
    "DEFAULT_REDIS_PORT",
    "Endpoints",
]
