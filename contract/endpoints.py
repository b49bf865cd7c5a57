"""Endpoints of the services every part of the product talks to, from the environment.

The same variables configure the detector, the job, the dashboard and the tests, so one
`export` points everything at a remote cluster; nothing set means the ports of the local
single-machine stack (`traffic-stack start`), which reads its ports from here too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

DEFAULT_KAFKA_PORT = 9092
DEFAULT_KAFKA_CONTROLLER_PORT = 9093
DEFAULT_REDIS_PORT = 6390
DEFAULT_FLINK_REST_PORT = 8081


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    redis_url: str
    flink_rest: str

    @classmethod
    def from_env(cls) -> Endpoints:
        return cls(
            kafka_bootstrap=os.environ.get(
                "TRAFFIC_KAFKA_BOOTSTRAP", f"127.0.0.1:{DEFAULT_KAFKA_PORT}"
            ),
            redis_url=os.environ.get(
                "TRAFFIC_REDIS_URL", f"redis://127.0.0.1:{DEFAULT_REDIS_PORT}/0"
            ),
            flink_rest=os.environ.get(
                "TRAFFIC_FLINK_REST", f"http://127.0.0.1:{DEFAULT_FLINK_REST_PORT}"
            ),
        )
