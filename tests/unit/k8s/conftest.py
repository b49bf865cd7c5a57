"""Rendered overlays, shared by the manifest tests (rendered once per session)."""

from __future__ import annotations

from typing import Any

import pytest

from k8s.tools import manifests

OVERLAYS = ("dev", "prod")
NOT_FETCHED = (".k8s-schemas/ is missing: run `.venv/bin/python -m k8s.tools.fetch_schemas` "
               "once (needs go, mvn and Java 21+; no network at test time)")


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    if not manifests.schemas_available():
        pytest.skip(NOT_FETCHED)
    return {overlay: manifests.render(overlay) for overlay in OVERLAYS}


@pytest.fixture(params=OVERLAYS)
def docs(request: pytest.FixtureRequest,
         rendered: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    return rendered[request.param]


def only(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (doc,) = only(docs, kind)
    return doc


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in only(docs, kind) if d["metadata"]["name"] == name]
    return doc
