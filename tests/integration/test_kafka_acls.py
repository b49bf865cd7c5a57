"""Kafka security as deployed, enforced by a real broker.

A private broker gets a mutual-TLS listener and Kafka's StandardAuthorizer (what Strimzi
configures for `authentication: tls` and `authorization: simple`) and the ACLs of the rendered
KafkaUsers, for principal `CN=<user>` as Strimzi writes them. Each component's client is
configured with exactly the properties its manifest gives it, the mounted file paths pointed
at stand-in certificates from the same test CA: the detector and the dashboard through
librdkafka, the job through Kafka's shaded Java client from the Flink connector (its
`DirectoryConfigProvider` included). Each may do its job and nothing else.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import (
    AclBinding,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)

from contract import topics
from detector.config import parse_config
from detector.publisher import producer_config
from jobs.config import from_args
from k8s.tools import manifests
from stack.paths import FLINK_JARS, KAFKA_JARS
from tests.private_kafka import PrivateKafka
from tests.tls_certs import issue, make_ca, pkcs12

pytestmark = pytest.mark.integration

PORT = 9196  # PLAINTEXT for the test's admin (a super user), controller 9197, TLS 9198
KEYSTORE_PASSWORD = "test-only-broker-keystore"
MOUNTS = {"/etc/traffic-risk-kafka/user": "{user}", "/etc/traffic-risk-kafka/ca": "ca"}
USERS = ("traffic-risk-job", "traffic-risk-detector", "traffic-risk-dashboard", "intruder")
PROBE = Path(__file__).with_name("java") / "KafkaAclProbe.java"
RESOURCES = {"topic": ResourceType.TOPIC, "group": ResourceType.GROUP,
             "transactionalId": ResourceType.TRANSACTIONAL_ID, "cluster": ResourceType.BROKER}
PATTERNS = {"literal": ResourcePatternType.LITERAL, "prefix": ResourcePatternType.PREFIXED}


class TlsKafka(PrivateKafka):
    """The private broker with a TLS listener requiring client certificates, and ACLs."""

    def __init__(self, certs: Path) -> None:
        self.certs = certs
        super().__init__("kafka-tls-acl-test", PORT, PORT + 1, auto_create=False)

    @property
    def tls_bootstrap(self) -> str:
        return f"127.0.0.1:{PORT + 2}"

    def properties(self) -> str:
        props = dict(line.split("=", 1) for line in super().properties().splitlines() if line)
        listeners = (f"PLAINTEXT://127.0.0.1:{PORT},SSL://{self.tls_bootstrap},"
                     f"CONTROLLER://127.0.0.1:{PORT + 1}")  # fmt: skip
        props.update({
            "listeners": listeners,
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{PORT},SSL://{self.tls_bootstrap}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,SSL:SSL,CONTROLLER:PLAINTEXT",
            "listener.name.ssl.ssl.client.auth": "required",
            "ssl.keystore.type": "PKCS12",
            "ssl.keystore.location": str(self.certs / "broker" / "user.p12"),
            "ssl.keystore.password": KEYSTORE_PASSWORD,
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.certs / "ca" / "ca.crt"),
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "super.users": "User:ANONYMOUS",  # the PLAINTEXT admin and the controller
            "allow.everyone.if.no.acl.found": "false",
        })  # fmt: skip
        return "\n".join(f"{k}={v}" for k, v in props.items()) + "\n"


def acl_bindings(users: list[dict[str, Any]]) -> list[AclBinding]:
    """The KafkaUsers' ACLs as Strimzi's User Operator creates them (User:CN=<name>)."""
    out = []
    for user in users:
        principal = f"User:CN={user['metadata']['name']}"
        for acl in user["spec"]["authorization"]["acls"]:
            resource = acl["resource"]
            for op in acl["operations"]:
                out.append(AclBinding(
                    RESOURCES[resource["type"]], resource.get("name", "kafka-cluster"),
                    PATTERNS[resource.get("patternType", "literal")], principal,
                    acl.get("host", "*"), AclOperation[_upper_snake(op)],
                    AclPermissionType.ALLOW,
                ))  # fmt: skip
    return out


def _upper_snake(camel: str) -> str:
    return "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(camel)).upper()


def localise(value: str, certs: Path, user: str) -> str:
    """A manifest's mounted path as the stand-in file of `user` (or the CA)."""
    for mount, folder in MOUNTS.items():
        value = value.replace(mount, str(certs / folder.format(user=user)))
    return value


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Path, TlsKafka]]:
    if not manifests.schemas_available():
        pytest.skip(".k8s-schemas/ is missing: run `python -m k8s.tools.fetch_schemas`")
    docs = manifests.render("prod")
    certs = tmp_path_factory.mktemp("tls")
    make_ca(certs / "ca")
    pkcs12(issue(certs / "ca", certs / "broker", "broker", "IP:127.0.0.1,DNS:localhost"),
           KEYSTORE_PASSWORD)  # fmt: skip
    for user in USERS:
        issue(certs / "ca", certs / user, user)
    broker = TlsKafka(certs)
    shutil.rmtree(broker.home, ignore_errors=True)  # no ACLs or topics of an earlier run
    broker.start(120)
    try:
        admin = AdminClient({"bootstrap.servers": broker.bootstrap})
        for future in admin.create_topics(
            [NewTopic(t, 1, 1) for t in topics.ALL_TOPICS]
        ).values():
            future.result(30)
        users = [d for d in docs if d["kind"] == "KafkaUser"]
        for future in admin.create_acls(acl_bindings(users)).values():
            future.result(30)
        seed = Producer({"bootstrap.servers": broker.bootstrap, "log_level": 0})
        for topic in (topics.DETECTION_RESULTS, topics.SIGNAL_STATES):  # for the job to read
            seed.produce(topic, key=b"cam", value=b"{}")
        assert seed.flush(30) == 0
        del seed
        yield docs, certs, broker
    finally:
        broker.stop()


def librdkafka_outcome(props: dict[str, str], bootstrap: str, topic: str) -> str:
    """Produce one record: "ok", or the error librdkafka reports for it."""
    outcome: list[str] = []

    def report(err: KafkaError | None, _msg: Message) -> None:
        outcome.append("ok" if err is None else err.name())

    config = {**producer_config(bootstrap, client_properties=props), "message.timeout.ms": 20000}
    producer = Producer(config)
    producer.produce(topic, key=b"cam", value=b"{}", on_delivery=report)
    producer.flush(30)
    del producer  # closed now, not after the broker has gone
    return outcome[0] if outcome else "no delivery report"


def detector_style_properties(docs: Any, certs: Path, user: str) -> dict[str, str]:
    """The detector's deployed librdkafka properties (the dashboard mounts its own certificate
    at the same paths), pointed at `user`'s stand-in files."""
    cameras = next(d for d in docs if d["kind"] == "ConfigMap"
                   and d["metadata"]["name"] == "traffic-risk-cameras")  # fmt: skip
    config = parse_config(yaml.safe_load(cameras["data"]["cameras.yaml"]))
    return {k: localise(v, certs, user) for k, v in config.output.kafka_properties.items()}


@pytest.mark.parametrize(("user", "allowed"), [
    ("traffic-risk-detector", {topics.DETECTION_RESULTS}),
    ("traffic-risk-dashboard", {topics.INCIDENT_ACTIONS}),
    ("intruder", set()),  # a certificate of the right CA, but no KafkaUser
])  # fmt: skip
def test_librdkafka_clients_write_only_their_topics(deployed, user, allowed):
    docs, certs, broker = deployed
    props = detector_style_properties(docs, certs, user)
    for topic in sorted(allowed | {topics.DETECTION_RESULTS, topics.TRAFFIC_ALERTS}):
        got = librdkafka_outcome(props, broker.tls_bootstrap, topic)
        assert (got == "ok") == (topic in allowed), (user, topic, got)
        if topic not in allowed:
            assert got == "TOPIC_AUTHORIZATION_FAILED", (user, topic, got)


def test_a_client_without_a_certificate_is_refused(deployed):
    docs, certs, broker = deployed
    props = detector_style_properties(docs, certs, "traffic-risk-detector")
    del props["ssl.certificate.location"], props["ssl.key.location"]
    assert librdkafka_outcome(props, broker.tls_bootstrap, topics.DETECTION_RESULTS) != "ok"


def test_the_job_reads_its_inputs_and_writes_its_outputs_transactionally_only(deployed):
    docs, certs, broker = deployed
    flink = next(d for d in docs if d["kind"] == "FlinkDeployment")
    cfg = from_args(manifests.job_program_args(flink))
    props_file = certs / "job.properties"
    props_file.write_text("".join(f"{k}={localise(v, certs, 'traffic-risk-job')}\n"
                                  for k, v in cfg.kafka_properties))  # fmt: skip
    prefix, group = cfg.transactional_id_prefix, cfg.group_id
    outputs = sorted(set(cfg.sink_topics().values()) | {topics.TRAFFIC_INCIDENTS})
    attempts = {f"write-{t}": f"produce:{prefix}-{t}-0:{t}" for t in outputs}
    attempts |= {
        "read-detections": f"consume:{group}:{cfg.source_topic}",
        "read-signals": f"consume:{group}:{cfg.signal_topic}",
        "write-its-input": f"produce:{prefix}-x-0:{topics.DETECTION_RESULTS}",
        "write-dashboard-topic": f"produce:{prefix}-y-0:{topics.INCIDENT_ACTIONS}",
        "foreign-transactional-id": f"produce:other-0:{topics.TRAFFIC_ALERTS}",
        "foreign-group": f"consume:other-group:{cfg.source_topic}",
    }
    (slf4j,) = KAFKA_JARS.glob("slf4j-api-*.jar")  # no logging backend: quiet stdout
    classpath = f"{FLINK_JARS / 'flink-sql-connector-kafka.jar'}:{slf4j}"
    out = subprocess.run(
        ["java", "-cp", classpath, str(PROBE), str(props_file), broker.tls_bootstrap,
         *(f"{name}={what}" for name, what in attempts.items())],
        capture_output=True, text=True, timeout=400, check=True,
    ).stdout  # fmt: skip
    results = dict(line.split(" ", 1) for line in out.splitlines() if " " in line)
    allowed = {f"write-{t}" for t in outputs} | {"read-detections", "read-signals"}
    for name in attempts:
        assert results[name].startswith("ok") == (name in allowed), (name, results[name])
    assert "TopicAuthorizationException" in results["write-its-input"]
    assert "TransactionalIdAuthorizationException" in results["foreign-transactional-id"]
    assert "GroupAuthorizationException" in results["foreign-group"]
