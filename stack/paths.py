"""Where the local stack keeps its files; every path is inside the (ignored) repo folders."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
STATE = Path(os.environ.get("TRAFFIC_STACK_DIR", REPO / ".stack"))
JVM = REPO / ".jvm"
KAFKA_JARS = JVM / "kafka"
FLINK_JARS = JVM / "flink"
FLINK_CONF_SOURCE = REPO / "flink-conf"
# Log configurations the product ships in flink-conf/: daemons, client and mini cluster,
# containers (docker/job.Dockerfile, k8s logConfiguration).
SHIPPED_LOG4J = ("log4j.properties", "log4j-cli.properties", "log4j-console.properties")


def flink_home() -> Path:
    """The Flink distribution inside the installed apache-flink pip package."""
    import pyflink  # local import: the detector extra does not need PyFlink

    return Path(pyflink.__file__).resolve().parent


def job_jars() -> list[Path]:
    """Jars the job loads (Kafka connector), fetched by `./dev setup` from Maven Central."""
    jars = sorted(FLINK_JARS.glob("*.jar"))
    if not jars:
        raise FileNotFoundError(
            f"no connector jars in {FLINK_JARS}: run `./dev setup` (mvn -f jvm/pom.xml package)"
        )
    return jars
