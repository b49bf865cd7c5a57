"""Every pod the manifests create runs restricted (Pod Security Standards "restricted", plus a
read-only root wherever the program allows it), and the dashboard is deployed as its
server expects: token from a Secret, probes on paths it serves, the job image."""

from __future__ import annotations

from typing import Any

from dashboard import server
from tests.unit.k8s.conftest import named, one, only

# Containers whose program writes its own image at start (the reason is beside each in YAML).
WRITABLE_ROOT = {"flink-main-container"}


def pod_specs(docs) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
    """name -> (pod securityContext, containers with name and securityContext), wherever a
    manifest spells a pod: workloads, the FlinkDeployment's template, Strimzi's templates."""
    out: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
    for kind in ("Deployment", "StatefulSet"):
        for doc in only(docs, kind):
            spec = doc["spec"]["template"]["spec"]
            out[doc["metadata"]["name"]] = (spec.get("securityContext", {}), spec["containers"])
    flink = one(docs, "FlinkDeployment")["spec"]["podTemplate"]["spec"]
    out["flink"] = (flink.get("securityContext", {}), flink["containers"])
    for pool in only(docs, "KafkaNodePool"):
        template = pool["spec"].get("template", {})
        container = {"name": "kafka", **template.get("kafkaContainer", {})}
        out[f"kafka-{pool['metadata']['name']}"] = (
            template.get("pod", {}).get("securityContext", {}),
            [container],
        )
    operator = one(docs, "Kafka")["spec"]["entityOperator"].get("template", {})
    containers = [{"name": f"{role}-operator", **operator.get(f"{role}OperatorContainer", {})}
                  for role in ("topic", "user")]  # fmt: skip
    out["entity-operator"] = (operator.get("pod", {}).get("securityContext", {}), containers)
    return out


def test_every_pod_and_container_is_restricted(docs):
    pods = pod_specs(docs)
    assert {"traffic-risk-detector", "traffic-risk-dashboard", "traffic-risk-redis", "flink",
            "kafka-dual-role", "entity-operator"} <= set(pods)  # fmt: skip
    for name, (pod, containers) in pods.items():
        assert pod.get("runAsNonRoot") is True, name
        assert pod.get("seccompProfile") == {"type": "RuntimeDefault"}, name
        for container in containers:
            where = f"{name}/{container['name']}"
            context = container.get("securityContext", {})
            assert context.get("allowPrivilegeEscalation") is False, where
            assert context.get("capabilities") == {"drop": ["ALL"]}, where
            read_only = container["name"] not in WRITABLE_ROOT
            assert context.get("readOnlyRootFilesystem") is read_only, where


def test_read_only_python_services_get_a_writable_tmp(docs):
    for name in ("traffic-risk-detector", "traffic-risk-dashboard"):
        spec = named(docs, "Deployment", name)["spec"]["template"]["spec"]
        empty = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        mounts = {m["mountPath"]: m["name"] for m in spec["containers"][0]["volumeMounts"]}
        assert mounts.get("/tmp") in empty, name


def test_the_dashboard_runs_as_its_server_expects(docs):
    deployment = named(docs, "Deployment", "traffic-risk-dashboard")["spec"]
    container = deployment["template"]["spec"]["containers"][0]
    job_image = one(docs, "FlinkDeployment")["spec"]["image"]
    assert container["image"] == job_image  # the job image's venv holds aiohttp
    assert container["command"] == ["/opt/venv/bin/traffic-dashboard"]
    env = {e["name"]: e for e in container["env"]}
    token = env[server.TOKEN_ENV]["valueFrom"]["secretKeyRef"]
    assert token == {"name": "traffic-risk-dashboard", "key": server.TOKEN_ENV}
    assert only(docs, "Secret") == []  # created by the cluster's operator, never committed
    assert "$(TRAFFIC_REDIS_PASSWORD)@" in env["TRAFFIC_REDIS_URL"]["value"]  # AUTH
    assert env["TRAFFIC_DASHBOARD_HOST"]["value"] == "0.0.0.0"
    (port,) = container["ports"]
    assert int(env["TRAFFIC_DASHBOARD_PORT"]["value"]) == port["containerPort"]
    routes = {r.resource.canonical for r in server.make_app("redis://x:1/0", "t").router.routes()
              if r.name in server.PUBLIC_ROUTES and r.resource is not None}  # fmt: skip
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        assert container[probe]["httpGet"] == {"path": path, "port": port["name"]}
        assert path in routes
    assert deployment["replicas"] >= 2  # the budget's one disruption leaves one serving
