"""Render the Kustomize overlays and validate every manifest offline.

Built-in kinds are checked with the Kubernetes JSON schemas bundled in `kubernetes-validate`
(strict: unknown fields fail); custom resources with the CRD schemas fetched into
`.k8s-schemas/` by `k8s.tools.fetch_schemas`, made strict the same way. Why strict: a typo in
a field name is otherwise silently pruned by the API server and the setting never applies.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from k8s.tools.fetch_schemas import OUT, REPO

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: 10x faster on big CRDs
KUSTOMIZE = OUT / "bin" / "kustomize"
CRDS = OUT / "crds"
OVERLAYS = REPO / "k8s" / "overlays"
KUBERNETES_VERSION = "1.33"  # oldest Kubernetes the manifests must work on

# The newest operator API jar on Maven Central (1.10.0) predates Flink 2.x; operator 1.13
# added v2_2 with no other change to the fields used here. Documented in docs/deployment.md.
FLINK_VERSION_ENUM_ADDITIONS = ("v2_0", "v2_1", "v2_2")


def _monitoring_schema(kind: str, spec: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """A prometheus-operator resource (monitoring.coreos.com/v1) whose spec is `spec`, strict."""
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "apiVersion": {"const": "monitoring.coreos.com/v1"},
            "kind": {"const": kind},
            "metadata": {"type": "object"},
            "spec": {"type": "object", "additionalProperties": False, **spec},
        },
        "$defs": defs,
    }


# prometheus-operator publishes no CRD on a reachable registry: its documented PodMonitor
# and PrometheusRule fields that these manifests use, strict.
PODMONITOR_SCHEMA = _monitoring_schema(
    "PodMonitor",
    {
        "required": ["selector", "podMetricsEndpoints"],
        "properties": {
            "selector": {"$ref": "#/$defs/labelSelector"},
            "namespaceSelector": {"type": "object"},
            "podMetricsEndpoints": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["port"],
                    "properties": {
                        "port": {"type": "string"},
                        "path": {"type": "string"},
                        "interval": {"type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$"},
                        "scrapeTimeout": {"type": "string"},
                        "scheme": {"enum": ["http", "https"]},
                    },
                },
            },
        },
    },
    {
        "labelSelector": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                "matchExpressions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "operator"],
                        "properties": {
                            "key": {"type": "string"},
                            "operator": {"enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
                            "values": {"type": "array", "items": {"type": "string"}},
                        },
                    },
                },
            },
        }
    },
)

_DURATION = {"type": "string", "pattern": "^([0-9]+(ms|s|m|h|d|w|y))+$"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_RULE_LIST = {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/rule"}}

# PrometheusRule, the same way: prometheus-operator's documented fields of a rule group,
# strict; a rule is an alert or a recording rule, never both (`oneOf`).
PROMETHEUSRULE_SCHEMA = _monitoring_schema(
    "PrometheusRule",
    {
        "required": ["groups"],
        "properties": {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "rules"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1},
                        "interval": _DURATION,
                        "limit": {"type": "integer", "minimum": 0},
                        "rules": _RULE_LIST,
                    },
                },
            },
        },
    },
    {
        "rule": {
            "type": "object",
            "additionalProperties": False,
            "required": ["expr"],
            "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
            "properties": {
                "alert": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                "expr": {"type": "string", "minLength": 1},
                "for": _DURATION,
                "keep_firing_for": _DURATION,
                "labels": _STRING_MAP,
                "annotations": _STRING_MAP,
            },
        }
    },
)


def schemas_available() -> bool:
    """True once `python -m k8s.tools.fetch_schemas` has filled the folder."""
    return KUSTOMIZE.exists() and CRDS.is_dir() and any(CRDS.glob("*.yaml"))


def render(overlay: str) -> list[dict[str, Any]]:
    """`kustomize build k8s/overlays/<overlay>` as a list of documents."""
    out = subprocess.run([str(KUSTOMIZE), "build", str(OVERLAYS / overlay)],
                         check=True, capture_output=True, text=True)
    return [doc for doc in yaml.load_all(out.stdout, Loader=_Loader) if doc]


def strict(schema: Any) -> Any:
    """Copy of an OpenAPI schema where objects with listed properties reject other fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def _crd_versions(crd: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    spec = crd["spec"]
    for version in spec["versions"]:
        if version.get("served", True):
            schema = dict(version["schema"]["openAPIV3Schema"])
            # The API server always accepts these at the root, listed in the CRD or not.
            schema["properties"] = {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                                    "metadata": {"type": "object"}, **schema["properties"]}
            yield f"{spec['group']}/{version['name']}", spec["names"]["kind"], schema


def _patch_flink(schema: dict[str, Any]) -> dict[str, Any]:
    schema = copy.deepcopy(schema)
    enum = schema["properties"]["spec"]["properties"]["flinkVersion"]["enum"]
    enum.extend(v for v in FLINK_VERSION_ENUM_ADDITIONS if v not in enum)
    return schema


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> strict JSON schema, from the fetched CRDs."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(CRDS.glob("*.yaml")):
        for doc in yaml.load_all(path.read_text(), Loader=_Loader):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            for api_version, kind, schema in _crd_versions(doc):
                if kind == "FlinkDeployment":
                    schema = _patch_flink(schema)
                found[(api_version, kind)] = strict(schema)
    found[("monitoring.coreos.com/v1", "PodMonitor")] = PODMONITOR_SCHEMA
    found[("monitoring.coreos.com/v1", "PrometheusRule")] = PROMETHEUSRULE_SCHEMA
    return found


def has_schema(doc: dict[str, Any]) -> bool:
    """A CRD schema or a bundled Kubernetes schema exists for this kind."""
    if (doc.get("apiVersion", ""), doc.get("kind", "")) in crd_schemas():
        return True
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    except kubernetes_validate.ValidationError:
        return True
    return True


def validate(doc: dict[str, Any]) -> list[str]:
    """Every schema error of one manifest, as readable lines (empty when valid)."""
    where = f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"
    schema = crd_schemas().get((doc.get("apiVersion", ""), doc.get("kind", "")))
    if schema is not None:
        validator = jsonschema.Draft202012Validator(schema)
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(doc)]
    try:
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as err:
        return [f"{where}: {'/'.join(map(str, err.path))}: {err.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"{where}: no schema for {doc.get('apiVersion')} {doc.get('kind')}"]
    return []


def load_yaml(path: Path) -> list[dict[str, Any]]:
    """All documents of a YAML file (test helper for unrendered sources)."""
    return [doc for doc in yaml.load_all(path.read_text(), Loader=_Loader) if doc]


def job_program_args(flink_deployment: dict[str, Any]) -> list[str]:
    """The arguments PythonDriver hands to risk_job.py: everything after its own options
    (`-py`, `-pyexec`, ... each with a value), as Flink's parser passes them on."""
    args: list[str] = flink_deployment["spec"]["job"]["args"]
    i = 0
    while i < len(args) and args[i].startswith("-py"):
        i += 2
    return args[i:]
