"""Poison pills: single records that once stopped the job, written from the specification.

Each comes from what the outside world may put on `detection-results`, not from the job's
code: Kafka's own record shapes (a null value, an empty value, records up to the broker's
limit), JSON's grammar (not JSON, NaN, invalid UTF-8, deep nesting, duplicate keys) and the
contract's JSON Schema (every rule of contract/schemas/detection-results.v1.json broken once,
the ones an outsider's hand-written events broke first), plus camera clocks gone wrong.
Each pill names the dead-letter reason codes that are a correct answer to it.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any

from contract import DeadLetter, limits
from tests.factories import detection_dict

YEAR_MS = 365 * 86400 * 1000


@dataclass(frozen=True)
class Pill:
    name: str
    value: bytes | None
    codes: frozenset[str]


def _event(camera: str, **fields: Any) -> dict[str, Any]:
    return detection_dict(**{"camera_id": camera, "groups": [], **fields})


def _broken(camera: str, path: tuple[str | int, ...], value: Any) -> bytes:
    """A valid event of `camera` with the field at `path` set to `value`."""
    root = _event(camera)
    node: Any = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return json.dumps(root).encode()


def pills(camera: str, now_ms: int | None = None) -> list[Pill]:
    """Every class of bad record, each once, for a camera key of `camera`."""
    now_ms = now_ms or int(time.time() * 1000)
    contract = frozenset({"contract"})
    malformed = frozenset({"parse", "contract"})
    good = json.dumps(_event(camera)).encode()
    padded = _event(camera)
    padded["detector"] = "x" * (1024 * 1024 + 10_000)  # a little over 1 MiB
    largest = _event(camera)
    largest["detector"] = ""
    largest["detector"] = "y" * (limits.MAX_RECORD_BYTES - len(json.dumps(largest)) - 1024)
    box_reversed = {"x1": 50, "y1": 20, "x2": 10, "y2": 90}
    # fmt: off
    return [
        Pill("tombstone (null value)", None, frozenset({"null_value"})),
        Pill("empty value", b"", malformed),
        Pill("not JSON", b"\x00\xffgarbage", malformed),
        Pill("truncated JSON", good[: len(good) // 2], malformed),
        Pill("a JSON array", b"[1, 2, 3]", malformed),
        Pill("trailing garbage", good + b" }", malformed),
        Pill("invalid UTF-8 in a string",
             good.replace(camera.encode(), b"\xc3\x28" + camera.encode()), malformed),
        Pill("NaN confidence", good.replace(b'"confidence": 0.9', b'"confidence": NaN'), malformed),
        Pill("deep nesting", b'{"schema_version": 1, "x": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
             malformed),
        Pill("duplicate key, second invalid",
             good.replace(b'"frame_id": 7', b'"frame_id": 7, "frame_id": -1'), contract),
        Pill("confidence 2.5", _broken(camera, ("objects", 0, "confidence"), 2.5), contract),
        Pill("box corners out of order", _broken(camera, ("objects", 0, "box"), box_reversed),
             contract),
        Pill("unknown class", _broken(camera, ("objects", 0, "class_name"), "tank"), contract),
        Pill("unknown top-level field", _broken(camera, ("colour",), "red"), contract),
        Pill("frame width 0", _broken(camera, ("frame", "width"), 0), contract),
        Pill("frame id -1", _broken(camera, ("frame_id",), -1), contract),
        Pill("frame id 2**64", _broken(camera, ("frame_id",), 2**64), contract),
        Pill("10,000-character camera id", _broken(camera, ("camera_id",), "c" * 10_000), contract),
        Pill("schema_version true", _broken(camera, ("schema_version",), True), contract),
        Pill("member index out of range",
             json.dumps(_event(camera, groups=[{"group_id": "g", "member_indices": [9],
                                                "box": box_reversed | {"x2": 60}}])).encode(),
             contract),
        Pill("a little over 1 MiB", json.dumps(padded).encode(), frozenset({"oversized"})),
        Pill("the largest record a producer may send", json.dumps(largest).encode(),
             frozenset({"oversized"})),
        Pill("clock 40 years ahead", _broken(camera, ("captured_at_ms",), now_ms + 40 * YEAR_MS),
             frozenset({"clock"})),
        Pill("clock 10 minutes ahead", _broken(camera, ("captured_at_ms",), now_ms + 600_000),
             frozenset({"clock"})),
        Pill("clock back at 1970", _broken(camera, ("captured_at_ms",), 1_000),
             frozenset({"clock"})),
    ]
    # fmt: on


def score(sent: list[Pill], letters: list[DeadLetter]) -> dict[str, Any]:
    """Each pill dead-lettered exactly once, with one of its reason codes; nothing else.

    Pills are matched by the SHA-256 of their whole value (null values by count), so a cut
    original still matches; a letter left over is a repeat (or a record no pill sent)."""
    by_hash: dict[str | None, list[DeadLetter]] = {}
    for letter in letters:
        by_hash.setdefault(letter.original_sha256, []).append(letter)
    missing, wrong_code = [], []
    for pill in sent:  # identical values (e.g. every round's empty value) take one each
        digest = None if pill.value is None else hashlib.sha256(pill.value).hexdigest()
        found = by_hash.get(digest, [])
        if not found:
            missing.append(pill.name)
            continue
        letter = found.pop()
        if letter.reason_code not in pill.codes:
            wrong_code.append(f"{pill.name}: {letter.reason_code} ({letter.reason[:80]})")
    repeated = sum(len(rest) for rest in by_hash.values())
    return {"pills_sent": len(sent), "pills_dead_lettered": len(sent) - len(missing),
            "pills_missing": missing, "pills_repeated": repeated,
            "pills_wrong_code": wrong_code}
