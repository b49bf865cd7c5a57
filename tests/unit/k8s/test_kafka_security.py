"""Kafka and Redis as deployed are authenticated and least-privilege, and every client is
wired to its own credentials through the options the code reads (docs/deployment.md,
"Security").

The ACLs are derived here from contract/topics.py and the job's settings (jobs/config.py),
never copied from the manifest, so a new topic or sink fails this test until users.yaml
grants it.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml
from confluent_kafka import Producer

from contract import redis_keys, topics
from detector.config import parse_config
from detector.publisher import producer_config
from jobs.config import JobConfig, from_args
from k8s.tools import manifests
from k8s.tools.fetch_schemas import REPO
from tests.tls_certs import issue, make_ca
from tests.unit.k8s.conftest import named, one, only

Acl = tuple[str, str, str, str]  # resource type, name, pattern type, operation
PRODUCE = ("Write", "Describe")
CONSUME = ("Read", "Describe")
CONNECTOR_JAR = REPO / ".jvm" / "flink" / "flink-sql-connector-kafka.jar"
# Written from outside the deployment (a traffic-controller feed), so no user here writes it.
EXTERNAL_INPUTS = {topics.SIGNAL_STATES}
CONFIG_REF = re.compile(r"\$\{(\w+):([^:}]+):([^}]+)\}")  # Kafka's ${provider:path:key}


def topic_acls(names: set[str], operations: tuple[str, ...]) -> set[Acl]:
    return {("topic", name, "literal", op) for name in names for op in operations}


def expected_acls() -> dict[str, set[Acl]]:
    """Each component's grants, from the contract's topics and the job's defaults."""
    job = JobConfig.model_validate({})
    # The job's exactly-once sinks, plus the incidents topic the incident stage writes.
    job_outputs = set(job.sink_topics().values()) | {topics.TRAFFIC_INCIDENTS}
    job_inputs = {job.source_topic, job.signal_topic}
    return {
        "traffic-risk-detector": topic_acls({topics.DETECTION_RESULTS}, PRODUCE),
        "traffic-risk-job": topic_acls(job_inputs, CONSUME) | topic_acls(job_outputs, PRODUCE)
        | {("group", job.group_id, "prefix", "Read")}
        | {("transactionalId", job.transactional_id_prefix, "prefix", op) for op in PRODUCE},
        "traffic-risk-dashboard": topic_acls({topics.INCIDENT_ACTIONS}, PRODUCE),
    }


def granted(user: dict[str, Any]) -> set[Acl]:
    out: set[Acl] = set()
    for acl in user["spec"]["authorization"]["acls"]:
        assert acl.get("type", "allow") == "allow" and acl.get("host", "*") == "*"
        resource = acl["resource"]
        for op in acl["operations"]:
            out.add((resource["type"], resource.get("name", ""),
                     resource.get("patternType", "literal"), op))  # fmt: skip
    return out


def test_each_component_gets_exactly_its_topics(docs):
    users = {u["metadata"]["name"]: u for u in only(docs, "KafkaUser")}
    kafka = one(docs, "Kafka")["metadata"]["name"]
    assert {u["metadata"]["labels"]["strimzi.io/cluster"] for u in users.values()} == {kafka}
    assert {name: granted(user) for name, user in users.items()} == expected_acls()


def test_every_contract_topic_has_one_writer_and_no_grant_names_another_topic():
    writes: dict[str, list[str]] = {}
    for user, acls in expected_acls().items():
        for kind, name, _, op in acls:
            if kind == "topic" and op == "Write":
                writes.setdefault(name, []).append(user)
    assert set(writes) == set(topics.ALL_TOPICS) - EXTERNAL_INPUTS
    assert all(len(users) == 1 for users in writes.values()), writes
    read = {name for acls in expected_acls().values() for kind, name, _, op in acls
            if kind == "topic" and op == "Read"}  # fmt: skip
    assert read <= set(topics.ALL_TOPICS)


def test_the_only_listener_is_tls_with_client_certificates_and_acls(docs):
    spec = one(docs, "Kafka")["spec"]
    (listener,) = spec["kafka"]["listeners"]
    assert listener["tls"] is True
    assert listener["authentication"] == {"type": "tls"}
    assert spec["kafka"]["authorization"]["type"] == "simple"
    assert "userOperator" in spec["entityOperator"]  # turns KafkaUsers into certificates
    for user in only(docs, "KafkaUser"):
        assert user["spec"]["authentication"] == {"type": "tls"}


def user_secret(docs, user: str) -> str:
    operator = one(docs, "Kafka")["spec"]["entityOperator"]["userOperator"]
    return str(operator.get("secretPrefix", "")) + user


def ca_secret(docs) -> str:
    return f"{one(docs, 'Kafka')['metadata']['name']}-cluster-ca-cert"


def secret_files(
    pod: dict[str, Any], container: dict[str, Any]
) -> dict[PurePosixPath, tuple[str, str]]:
    """Mounted file path -> (Secret name, key) for every Secret volume of the container."""
    volumes = {v["name"]: v["secret"] for v in pod.get("volumes", []) if "secret" in v}
    out: dict[PurePosixPath, tuple[str, str]] = {}
    for mount in container.get("volumeMounts", []):
        secret = volumes.get(mount["name"])
        if secret is None:
            continue
        assert mount.get("readOnly") is True
        for item in secret.get("items") or [{"key": "*", "path": "*"}]:  # "*": every key
            path = PurePosixPath(mount["mountPath"]) / item["path"]
            out[path] = (secret["secretName"], item["key"])
    return out


def job_pod(docs) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = one(docs, "FlinkDeployment")["spec"]["podTemplate"]["spec"]
    return spec, spec["containers"][0]


def workload_pod(docs, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = named(docs, "Deployment", name)["spec"]["template"]["spec"]
    return spec, spec["containers"][0]


def test_job_reads_its_certificate_through_kafka_properties_from_mounted_files(docs):
    cfg = from_args(manifests.job_program_args(one(docs, "FlinkDeployment")))
    props = dict(cfg.kafka_properties)
    files = secret_files(*job_pod(docs))
    own, ca = user_secret(docs, "traffic-risk-job"), ca_secret(docs)
    assert props["security.protocol"] == "SSL"
    assert props["ssl.keystore.type"] == props["ssl.truststore.type"] == "PEM"
    assert files[PurePosixPath(props["ssl.truststore.location"])] == (ca, "ca.crt")
    for key, want in (("ssl.keystore.certificate.chain", "user.crt"),
                      ("ssl.keystore.key", "user.key")):  # fmt: skip
        provider, folder, name = CONFIG_REF.fullmatch(props[key]).groups()  # type: ignore[union-attr]
        assert provider in props["config.providers"].split(",")
        assert files[PurePosixPath(folder) / name] == (own, want)
        assert folder in props[f"config.providers.{provider}.param.allowed.paths"].split(",")
    # The connector shades the Kafka client: the provider class must be the shaded one.
    provider_class = props["config.providers.dir.class"]
    with zipfile.ZipFile(CONNECTOR_JAR) as jar:
        assert provider_class.replace(".", "/") + ".class" in jar.namelist()
    assert not any("password" in key for key in props)  # nothing secret passes as a value


def detector_kafka_properties(docs) -> dict[str, str]:
    maps = {m["metadata"]["name"]: m for m in only(docs, "ConfigMap")}
    cameras = yaml.safe_load(maps["traffic-risk-cameras"]["data"]["cameras.yaml"])
    return dict(parse_config(cameras).output.kafka_properties)


def test_detector_reads_its_certificate_from_mounted_files(docs):
    props = detector_kafka_properties(docs)
    files = secret_files(*workload_pod(docs, "traffic-risk-detector"))
    own, ca = user_secret(docs, "traffic-risk-detector"), ca_secret(docs)
    assert props["security.protocol"] == "ssl"
    assert files[PurePosixPath(props["ssl.ca.location"])] == (ca, "ca.crt")
    assert files[PurePosixPath(props["ssl.certificate.location"])] == (own, "user.crt")
    assert files[PurePosixPath(props["ssl.key.location"])] == (own, "user.key")


def test_dashboard_mounts_its_own_certificate_at_the_detectors_paths(docs):
    detector = secret_files(*workload_pod(docs, "traffic-risk-detector"))
    dashboard = secret_files(*workload_pod(docs, "traffic-risk-dashboard"))
    own = user_secret(docs, "traffic-risk-dashboard")
    assert set(dashboard) >= set(detector)
    for path, (secret, key) in detector.items():
        mine = dashboard[path]
        assert mine == ((own, key) if secret.startswith("kafka-user-") else (secret, key))


def test_each_kafka_user_secret_is_mounted_only_by_its_own_component(docs):
    mounted = {
        "traffic-risk-job": secret_files(*job_pod(docs)),
        "traffic-risk-detector": secret_files(*workload_pod(docs, "traffic-risk-detector")),
        "traffic-risk-dashboard": secret_files(*workload_pod(docs, "traffic-risk-dashboard")),
    }
    for user in only(docs, "KafkaUser"):
        name = user["metadata"]["name"]
        holders = {c for c, files in mounted.items()
                   if user_secret(docs, name) in {s for s, _ in files.values()}}  # fmt: skip
        assert holders == {name}


def test_detector_producer_loads_the_deployed_tls_settings(rendered, tmp_path):
    """librdkafka builds its TLS context at construction: a wrong property or unreadable key
    fails here, offline (the files are stand-ins at the same names)."""
    make_ca(tmp_path)
    issue(tmp_path, tmp_path, "traffic-risk-detector")
    files = {name: tmp_path / name for name in ("ca.crt", "user.crt", "user.key")}
    props = {k: str(files[PurePosixPath(v).name]) if k.endswith(".location") else v
             for k, v in detector_kafka_properties(rendered["prod"]).items()}  # fmt: skip
    Producer(producer_config("127.0.0.1:1", client_properties=props)).flush(0)
    files["user.key"].write_text("not a key\n")
    with pytest.raises(Exception, match=r"ssl\.key"):
        Producer(producer_config("127.0.0.1:1", client_properties=props))


def env_entries(container: dict[str, Any]) -> list[dict[str, Any]]:
    env: list[dict[str, Any]] = container.get("env", [])
    return env


def test_redis_clients_authenticate_with_the_secret_and_no_manifest_holds_a_password(docs):
    service = named(docs, "Service", "traffic-risk-redis")
    address = f"{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    clients = [job_pod(docs), workload_pod(docs, "traffic-risk-detector"),
               workload_pod(docs, "traffic-risk-dashboard")]  # fmt: skip
    secret = {"name": "traffic-risk-redis", "key": "password"}
    pod = named(docs, "StatefulSet", "traffic-risk-redis")["spec"]["template"]["spec"]
    (server,) = pod["containers"]
    by_name = {e["name"]: e for e in env_entries(server)}
    assert by_name["REDISCLI_AUTH"]["valueFrom"]["secretKeyRef"] == secret
    args = server["args"]
    assert args[args.index("--requirepass") + 1] == "$(REDISCLI_AUTH)"
    probe = server["readinessProbe"]["exec"]["command"]  # redis-cli reads REDISCLI_AUTH
    tls = "--tls-port" in args
    if tls:  # TLS only, with the certificate of the Secret the clients take their CA from
        assert args[args.index("--port") + 1] == "0"
        assert args[args.index("--tls-port") + 1] == str(service["spec"]["ports"][0]["port"])
        server_files = {str(p): s for p, s in secret_files(pod, server).items()}
        for flag, key in (("--tls-cert-file", "tls.crt"), ("--tls-key-file", "tls.key"),
                          ("--tls-ca-cert-file", "ca.crt")):  # fmt: skip
            path = PurePosixPath(args[args.index(flag) + 1])
            assert server_files[str(path.parent / "*")] == ("traffic-risk-redis-tls", "*")
            assert path.name == key
        assert probe[:2] == ["redis-cli", "--tls"] and probe[-1] == "ping"
    else:
        assert probe == ["redis-cli", "ping"]
    for pod, container in clients:
        env = env_entries(container)
        names = [e["name"] for e in env]
        # $(VAR) expands only variables defined before it in the list.
        assert names.index("TRAFFIC_REDIS_PASSWORD") < names.index("TRAFFIC_REDIS_URL")
        by_name = {e["name"]: e for e in env}
        assert by_name["TRAFFIC_REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == secret
        url = by_name["TRAFFIC_REDIS_URL"]["value"]
        if not tls:
            assert url == f"redis://:$(TRAFFIC_REDIS_PASSWORD)@{address}/0"
            continue
        ca = PurePosixPath(url.partition("?ssl_ca_certs=")[2])
        assert url == f"rediss://:$(TRAFFIC_REDIS_PASSWORD)@{address}/0?ssl_ca_certs={ca}"
        assert secret_files(pod, container)[ca] == ("traffic-risk-redis-tls", "ca.crt")


def test_production_redis_speaks_tls(rendered):
    args = named(rendered["prod"], "StatefulSet", "traffic-risk-redis")["spec"]["template"][
        "spec"]["containers"][0]["args"]
    assert "--tls-port" in args


def test_no_container_gets_a_literal_credential(docs):
    secretish = re.compile(r"PASSWORD|TOKEN|SECRET|API_KEYS?$|_AUTH$")
    for doc in docs:
        text = yaml.safe_dump(doc)
        assert "BEGIN PRIVATE KEY" not in text
        for match in re.finditer(r"name: (\w+)\n\s*value: (.*)", text):
            name, value = match.groups()
            if secretish.search(name) and not name.endswith("_FILE"):
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']}: {name}={value}")
    assert only(docs, "Secret") == []


def test_deployed_crops_live_only_in_redis_for_a_bounded_time(docs):
    maps = {m["metadata"]["name"]: m for m in only(docs, "ConfigMap")}
    output = parse_config(yaml.safe_load(maps["traffic-risk-cameras"]["data"]["cameras.yaml"])
                          ).output  # fmt: skip
    assert output.crops == "redis"  # not inline in detection-results for its retention
    assert output.crop_ttl_s <= redis_keys.CROP_TTL_MAX_S
    args = named(docs, "StatefulSet", "traffic-risk-redis")["spec"]["template"]["spec"][
        "containers"][0]["args"]
    # Under memory pressure Redis evicts keys with a TTL (crops) first, never the views.
    assert args[args.index("--maxmemory-policy") + 1] == "volatile-lru"
