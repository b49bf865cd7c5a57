"""Render docs/contract.md from the models, so the field reference cannot drift.

``python -m contract.docs --write`` regenerates it; a unit test fails when it is stale.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from contract.schemas import MODEL_BY_TOPIC

DOC = Path(__file__).resolve().parent.parent / "docs" / "contract.md"

INTRO = """# Event contract (generated: `python -m contract.docs --write`)

Every message is compact UTF-8 JSON whose `schema_version` names its version; unknown
fields are rejected. The models in `contract/models.py` are the source of truth; the JSON
Schemas in `contract/schemas/<topic>.v1.json` are generated from them. Messages on
`detection-results` are keyed by camera id so one camera's frames stay in order.
Times are epoch milliseconds UTC; boxes are pixels of the analysed frame.

**One contract, two checkers.** The detector and the job's Python stages check with the
pydantic models (`contract.parse`); the job's JVM ingest check (`PARSE_DETECTION`,
`jvm/udf/.../ContractSchema.java`) interprets the generated JSON Schema, which is packaged
into its jar at build time. A differential test (`tests/integration/test_contract_differential.py`,
in `./dev test`) holds both to the same accept/reject verdict on over 10,000 events generated
from the schema and mutated. To ask the JVM check about records of your own: `java -cp
".jvm/flink/traffic-risk-udfs.jar:<pyflink>/lib/*" io.trafficrisk.flink.ContractCheck`, one
base64 record value per line on stdin (`-` for a null value), `ok` or `reject<TAB>reason`
per line on stdout. JSON is read strictly, the same way by both:
- an integer is an integer token (`1.0`, `true` and `"1"` are not integers); numbers are
  finite (`NaN`, `Infinity` and overflowing literals are rejected); integers fit 64 bits;
- string lengths count code points; invalid UTF-8, trailing content after the document and
  nesting deeper than the parsers allow are rejected; of duplicate keys the last one wins;
- a pattern's `$` is the end of the text (no trailing newline).

Rules JSON Schema cannot state are declared once in the models as `x-` keywords of the
schema: `x-ordered` (pairs of fields, first <= second: box corners), `x-index-into` (integers
that index a root array: a group's members), `x-max-decoded-bytes` with `contentEncoding:
base64` (standard alphabet, padded: inline crops); `x-vehicle-classes` annotates which class
names count as vehicles. The JVM checker refuses to load a schema with a keyword it does not
implement, so a new rule cannot be skipped there silently.
"""


def _type_name(annotation: Any) -> str:
    if getattr(annotation, "__args__", None) is None and hasattr(annotation, "__name__"):
        return str(annotation.__name__)
    text = str(annotation).replace("typing.", "").replace("contract.models.", "")
    text = re.sub(r"Annotated\[(.*?), FieldInfo\(.*\)\]", r"\1", text)
    optional = re.fullmatch(r"Optional\[(.*)\]", text)
    return f"{optional.group(1)} | None" if optional else text


def _table(model: type[BaseModel]) -> list[str]:
    lines = ["| field | type | required | description |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        kind = _type_name(field.annotation).replace("|", "\\|")
        required = "yes" if field.is_required() else "no"
        lines.append(f"| `{name}` | `{kind}` | {required} | {field.description or ''} |")
    return lines


def _nested(model: type[BaseModel], seen: set[type[BaseModel]]) -> list[type[BaseModel]]:
    found = []
    for field in model.model_fields.values():
        for candidate in _models_in(field.annotation):
            if candidate not in seen:
                seen.add(candidate)
                found += [candidate, *_nested(candidate, seen)]
    return found


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


def render() -> str:
    out = [INTRO]
    seen: set[type[BaseModel]] = set(MODEL_BY_TOPIC.values())
    for topic, model in MODEL_BY_TOPIC.items():
        out += [f"## Topic `{topic}`: `{model.__name__}` v1", "", (model.__doc__ or "").strip(), ""]
        out += [*_table(model), ""]
        for nested in _nested(model, seen):
            out += [f"### `{nested.__name__}`", "", (nested.__doc__ or "").strip(), ""]
            out += [*_table(nested), ""]
    return "\n".join(out).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", action="store_true", help="regenerate docs/contract.md")
    if parser.parse_args().write:
        DOC.write_text(render())
        return 0
    if not DOC.exists() or DOC.read_text() != render():
        print("docs/contract.md is stale: python -m contract.docs --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
