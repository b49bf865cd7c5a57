"""Selectors (NetworkPolicies, Strimzi listener peers, Services, PodMonitor) match real pods."""

from __future__ import annotations

from typing import Any

from tests.unit.k8s.conftest import one, only

Pod = tuple[dict[str, str], set[str]]  # labels, named container ports


def pods(docs) -> dict[str, Pod]:
    """The pods the manifests create, with the labels their controllers give them."""
    out: dict[str, Pod] = {}
    for kind in ("Deployment", "StatefulSet"):
        for doc in only(docs, kind):
            template = doc["spec"]["template"]
            out[doc["metadata"]["name"]] = (template["metadata"]["labels"], _ports(template))
    flink = one(docs, "FlinkDeployment")
    template = flink["spec"]["podTemplate"]
    for component in ("jobmanager", "taskmanager"):  # labels the operator adds
        labels = {**template["metadata"]["labels"], "app": flink["metadata"]["name"],
                  "component": component, "type": "flink-native-kubernetes"}
        out[f"flink-{component}"] = (labels, _ports(template))
    kafka = one(docs, "Kafka")["metadata"]["name"]
    for pool in only(docs, "KafkaNodePool"):  # labels Strimzi gives node-pool pods
        labels = {"strimzi.io/cluster": kafka, "strimzi.io/kind": "Kafka",
                  "strimzi.io/pool-name": pool["metadata"]["name"]}
        out[f"kafka-{pool['metadata']['name']}"] = (labels, set())
    return out


def _ports(template: dict[str, Any]) -> set[str]:
    return {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])
            if "name" in p}


def matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels AND matchExpressions)."""
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        present, value = expr["key"] in labels, labels.get(expr["key"])
        ok = {"In": present and value in expr.get("values", []),
              "NotIn": not present or value not in expr.get("values", []),
              "Exists": present, "DoesNotExist": not present}[expr["operator"]]
        if not ok:
            return False
    return True


def selected(selector: dict[str, Any], docs) -> dict[str, Pod]:
    return {name: pod for name, pod in pods(docs).items() if matches(selector, pod[0])}


def test_selector_semantics():
    assert matches({"matchLabels": {"a": "1"}}, {"a": "1", "b": "2"})
    assert not matches({"matchLabels": {"a": "1"}}, {"a": "2"})
    expr = {"matchExpressions": [{"key": "a", "operator": "In", "values": ["x"]}]}
    assert matches(expr, {"a": "x"}) and not matches(expr, {"b": "x"})
    assert matches({}, {"any": "thing"})


def test_network_policies_select_real_pods_and_ports(docs):
    for policy in only(docs, "NetworkPolicy"):
        name, spec = policy["metadata"]["name"], policy["spec"]
        targets = selected(spec["podSelector"], docs)
        assert targets, name
        for rule in spec.get("ingress", []):
            for peer in rule["from"]:
                if "podSelector" in peer and "namespaceSelector" not in peer:
                    assert selected(peer["podSelector"], docs), (name, peer)
            for port in rule.get("ports", []):
                if isinstance(port["port"], str):  # a named port: every target declares it
                    assert all(port["port"] in p[1] for p in targets.values()), (name, port)


def test_ingress_is_denied_by_default(docs):
    deny = [p for p in only(docs, "NetworkPolicy") if p["spec"]["podSelector"] == {}]
    assert len(deny) == 1 and "ingress" not in deny[0]["spec"]
    assert deny[0]["spec"]["policyTypes"] == ["Ingress"]


def test_only_the_pipeline_reaches_kafka_and_redis(docs):
    listener = one(docs, "Kafka")["spec"]["kafka"]["listeners"][0]
    kafka_clients = {n for peer in listener["networkPolicyPeers"]
                     for n in selected(peer["podSelector"], docs)}
    redis_policy = next(p for p in only(docs, "NetworkPolicy")
                        if p["metadata"]["name"] == "redis-clients")
    redis_clients = {n for peer in redis_policy["spec"]["ingress"][0]["from"]
                     for n in selected(peer["podSelector"], docs)}
    # Each a KafkaUser of its own (test_kafka_security.py); the dashboard writes operators'
    # actions to Kafka and reads the views from Redis.
    expected = {"flink-jobmanager", "flink-taskmanager", "traffic-risk-detector",
                "traffic-risk-dashboard"}
    assert kafka_clients == expected
    assert redis_clients == expected


def test_disruption_budgets_cover_each_workload_and_select_real_pods(docs):
    covered: set[str] = set()
    for budget in only(docs, "PodDisruptionBudget"):
        targets = selected(budget["spec"]["selector"], docs)
        assert targets, budget["metadata"]["name"]
        covered |= set(targets)
        # Never blocks a drain for good: a single pod may go, and so may an unhealthy one.
        assert budget["spec"]["maxUnavailable"] == 1
        assert budget["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    workloads = {d["metadata"]["name"] for kind in ("Deployment", "StatefulSet")
                 for d in only(docs, kind)}
    assert covered == workloads | {"flink-jobmanager"}  # TaskManagers: see budgets.yaml


def test_services_select_pods_with_their_target_ports(docs):
    for service in only(docs, "Service"):
        targets = selected({"matchLabels": service["spec"]["selector"]}, docs)
        assert targets, service["metadata"]["name"]
        for port in service["spec"]["ports"]:
            assert all(port["targetPort"] in p[1] for p in targets.values())


def test_pod_monitor_scrapes_job_and_detector_metrics_ports(docs):
    monitor = one(docs, "PodMonitor")["spec"]
    targets = selected(monitor["selector"], docs)
    assert set(targets) == {"flink-jobmanager", "flink-taskmanager", "traffic-risk-detector"}
    for endpoint in monitor["podMetricsEndpoints"]:
        assert all(endpoint["port"] in p[1] for p in targets.values())
