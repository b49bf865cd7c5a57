"""Every rendered manifest validates, and names agree with the code and the pins."""

from __future__ import annotations

import copy
from pathlib import PurePosixPath

from contract.topics import ALL_TOPICS, DETECTION_RESULTS
from detector.config import parse_config
from k8s.tools import manifests, pins
from k8s.tools.fetch_schemas import REPO
from tests.unit.k8s.conftest import named, one, only

# Topics the deployment adds to the contract's (the signal-state stream of the CEP stage).
EXTRA_TOPICS = {"signal-states"}
# Environment variables the code reads (udfs/job_config.py, stack/config.py, the LLM stage).
JOB_ENV = {"TRAFFIC_KAFKA_BOOTSTRAP", "TRAFFIC_REDIS_URL", "TRAFFIC_LLM_API_KEYS_FILE",
           "TRAFFIC_LLM_BASE_URL", "TRAFFIC_LLM_MODEL"}
DETECTOR_ENV = {"TRAFFIC_KAFKA_BOOTSTRAP", "TRAFFIC_REDIS_URL", "TRAFFIC_DETECTOR_CONFIG"}
SECRET_ENV = {"TRAFFIC_LLM_API_KEYS"}
IMAGE_ENV = {"ENABLE_BUILT_IN_PLUGINS"}  # read by the official Flink image's entry script
# Read by Kubernetes only: $(TRAFFIC_REDIS_PASSWORD) in TRAFFIC_REDIS_URL (test_kafka_security).
EXPANDED_ENV = {"TRAFFIC_REDIS_PASSWORD"}
IMAGE_ROOT = PurePosixPath("/opt/traffic-risk")  # TRAFFIC_HOME of docker/job.Dockerfile


def job_container(docs):
    return one(docs, "FlinkDeployment")["spec"]["podTemplate"]["spec"]["containers"][0]


def detector_pod(docs):
    return named(docs, "Deployment", "traffic-risk-detector")["spec"]["template"]["spec"]


def detector_container(docs):
    return detector_pod(docs)["containers"][0]


def env_names(docs, container) -> set[str]:
    names = {e["name"] for e in container.get("env", [])}
    maps = {d["metadata"]["name"]: d for d in only(docs, "ConfigMap")}
    for source in container.get("envFrom", []):
        names |= set(maps[source["configMapRef"]["name"]]["data"])
    return names


def test_every_rendered_manifest_validates(docs):
    errors = [line for doc in docs for line in manifests.validate(doc)]
    assert errors == []


def test_a_rule_that_is_both_alert_and_record_or_misnamed_fails(rendered):
    doc = one(rendered["prod"], "PrometheusRule")
    for change in ({"record": "x:y"}, {"alert": "has space"}, {"for": "10 minutes"}):
        broken = copy.deepcopy(doc)
        broken["spec"]["groups"][0]["rules"][0].update(change)
        assert manifests.validate(broken), change


def test_validation_is_strict_about_unknown_fields(rendered):
    # A misspelt field must fail, not be pruned silently (proves the schemas bite).
    for kind, path in (("FlinkDeployment", ("spec", "job")), ("KafkaTopic", ("spec",)),
                       ("Deployment", ("spec", "template", "spec")),
                       ("PodMonitor", ("spec",)), ("Kafka", ("spec", "kafka")),
                       ("PrometheusRule", ("spec",))):
        doc = copy.deepcopy(only(rendered["prod"], kind)[0])
        node = doc
        for key in path:
            node = node[key]
        node["paralelism"] = 1
        assert manifests.validate(doc), kind


def test_every_kind_has_a_schema(docs):
    crd_kinds = {kind for _, kind in manifests.crd_schemas()}
    assert [d["kind"] for d in docs if not manifests.has_schema(d)] == []
    assert {d["kind"] for d in docs} & crd_kinds == {
        "FlinkDeployment", "Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser", "PodMonitor",
        "PrometheusRule"}


def test_topics_are_the_contract_topics(docs):
    kafka = one(docs, "Kafka")["metadata"]["name"]
    topics = only(docs, "KafkaTopic")
    assert {t["metadata"]["name"] for t in topics} == set(ALL_TOPICS) | EXTRA_TOPICS
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka
        assert int(topic["spec"]["config"]["retention.ms"]) > 0
        assert topic["spec"]["partitions"] >= 1


def test_source_parallelism_fits_partitions_and_key_groups(docs):
    flink = one(docs, "FlinkDeployment")["spec"]
    partitions = {t["metadata"]["name"]: t["spec"]["partitions"] for t in only(docs, "KafkaTopic")}
    parallelism = flink["job"]["parallelism"]
    assert parallelism <= partitions[DETECTION_RESULTS]
    max_parallelism = int(flink["flinkConfiguration"]["pipeline.max-parallelism"])
    assert max_parallelism % partitions[DETECTION_RESULTS] == 0
    assert int(flink["flinkConfiguration"]["job.autoscaler.vertex.max-parallelism"]) \
        <= max_parallelism


def test_replication_fits_the_broker_count(docs):
    brokers = sum(p["spec"]["replicas"] for p in only(docs, "KafkaNodePool"))
    config = one(docs, "Kafka")["spec"]["kafka"]["config"]
    for topic in only(docs, "KafkaTopic"):
        assert topic["spec"]["replicas"] <= brokers
        assert topic["spec"]["config"]["min.insync.replicas"] <= topic["spec"]["replicas"]
    assert config["default.replication.factor"] <= brokers


def test_job_and_detector_get_the_env_the_code_reads_and_nothing_unknown(docs):
    job, detector = env_names(docs, job_container(docs)), env_names(docs, detector_container(docs))
    assert JOB_ENV <= job <= JOB_ENV | IMAGE_ENV | EXPANDED_ENV
    assert DETECTOR_ENV <= detector <= JOB_ENV - SECRET_ENV | DETECTOR_ENV | EXPANDED_ENV


def test_api_keys_come_from_a_secret_file_never_an_env_var(docs):
    # Beam logs a Python worker's environment at INFO: a key in env would reach the logs.
    for container in (job_container(docs), detector_container(docs)):
        names = {env["name"] for env in container.get("env", [])}
        assert not names & SECRET_ENV
        for name in SECRET_ENV:
            assert all(name not in m["data"] for m in only(docs, "ConfigMap"))
    assert only(docs, "Secret") == []
    job = job_container(docs)
    key_file = next(e["value"] for e in job["env"] if e["name"] == "TRAFFIC_LLM_API_KEYS_FILE")
    spec = one(docs, "FlinkDeployment")["spec"]["podTemplate"]["spec"]
    volume = next(v for v in spec["volumes"] if "secret" in v)
    mount = next(m for m in job["volumeMounts"] if m["name"] == volume["name"])
    assert volume["secret"]["secretName"] == "traffic-risk-llm"
    assert key_file == f"{mount['mountPath']}/TRAFFIC_LLM_API_KEYS"


def test_endpoints_name_the_rendered_services(docs):
    maps = {m["metadata"]["name"]: m for m in only(docs, "ConfigMap")}
    data = maps["traffic-risk-env"]["data"]
    kafka = one(docs, "Kafka")
    (listener,) = kafka["spec"]["kafka"]["listeners"]
    assert data["TRAFFIC_KAFKA_BOOTSTRAP"] == \
        f"{kafka['metadata']['name']}-kafka-bootstrap:{listener['port']}"
    # The Redis URL carries a password, so each pod sets it (test_kafka_security.py).
    assert "TRAFFIC_REDIS_URL" not in data


def test_detector_config_path_is_the_mounted_camera_file(docs):
    pod = detector_pod(docs)
    container = pod["containers"][0]
    path = PurePosixPath(next(e["value"] for e in container["env"]
                              if e["name"] == "TRAFFIC_DETECTOR_CONFIG"))
    mount = next(m for m in container["volumeMounts"]
                 if PurePosixPath(m["mountPath"]) == path.parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    maps = {m["metadata"]["name"]: m for m in only(docs, "ConfigMap")}
    assert path.name in maps[volume["configMap"]["name"]]["data"]


def test_images_and_flink_versions_equal_the_pins(docs):
    flink = one(docs, "FlinkDeployment")["spec"]
    version = pins.flink_version()
    major, minor, _ = version.split(".")
    assert flink["flinkVersion"] == f"v{major}_{minor}"
    assert flink["image"] == f"traffic-risk/job:{pins.project_version()}"
    assert flink["job"]["jarURI"] == f"local:///opt/flink/opt/flink-python-{version}.jar"
    plugins = [e["value"] for e in job_container(docs)["env"]
               if e["name"] == "ENABLE_BUILT_IN_PLUGINS"]
    assert all(p == f"flink-s3-fs-presto-{version}.jar" for p in plugins)
    detector = detector_container(docs)["image"]
    assert detector.split(":")[1] in {f"{pins.project_version()}-{v}" for v in ("cpu", "gpu")}
    assert one(docs, "Kafka")["spec"]["kafka"]["version"] == pins.pom_property("kafka.version")


def test_python_entry_point_exists_in_the_repo(docs):
    job = one(docs, "FlinkDeployment")["spec"]["job"]
    assert job["entryClass"] == "org.apache.flink.client.python.PythonDriver"
    args = dict(zip(job["args"][::2], job["args"][1::2], strict=True))
    entry = PurePosixPath(args["-py"]).relative_to(IMAGE_ROOT)
    assert (REPO / entry).is_file() and str(entry) == "jobs/risk_job.py"
    assert "-pyfs" not in args  # the image installs the wheel: workers import it from /opt/venv
    config = one(docs, "FlinkDeployment")["spec"]["flinkConfiguration"]
    assert args["-pyexec"] == config["python.executable"] == "/opt/venv/bin/python"


def test_flink_is_highly_available_and_upgrades_through_savepoints(docs):
    spec = one(docs, "FlinkDeployment")["spec"]
    config = spec["flinkConfiguration"]
    assert spec["job"]["upgradeMode"] == "savepoint"
    assert config["high-availability.type"] == "kubernetes"
    for key in ("execution.checkpointing.dir", "execution.checkpointing.savepoint-dir",
                "high-availability.storageDir"):
        assert config[key].startswith(("file:///flink-data/", "s3p://"))
    if config["execution.checkpointing.dir"].startswith("file:"):
        claim = spec["podTemplate"]["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"]
        assert claim in {p["metadata"]["name"] for p in only(docs, "PersistentVolumeClaim")}


def test_detector_probes_use_its_health_endpoint(docs):
    container = detector_container(docs)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    defaults = parse_config({"cameras": [{"id": "c", "source": "rtsp://h/s"}]})
    assert ports["health"] == defaults.health.port
    assert ports["metrics"] == defaults.metrics_port
    paths = {probe: container[probe]["httpGet"] for probe in
             ("startupProbe", "livenessProbe", "readinessProbe")}  # fmt: skip
    assert {p["port"] for p in paths.values()} == {"health"}
    assert paths["livenessProbe"]["path"] == paths["startupProbe"]["path"] == "/healthz"
    assert paths["readinessProbe"]["path"] == "/readyz"


def test_grafana_dashboards_ship_as_a_sidecar_configmap(docs):
    maps = only(docs, "ConfigMap")
    (config_map,) = [m for m in maps if m["metadata"]["labels"].get("grafana_dashboard") == "1"]
    files = sorted((REPO / "monitoring" / "grafana").glob("*.json"))
    assert config_map["data"] == {f.name: f.read_text() for f in files}


def test_alert_rules_ship_with_the_deployment(docs):
    groups = one(docs, "PrometheusRule")["spec"]["groups"]
    assert {g["name"] for g in groups} == {"traffic-risk-job", "traffic-risk-detector"}
