"""The event contract: valid and invalid messages, round trips, schemas in sync."""

from __future__ import annotations

import base64
import json

import jsonschema
import pytest

from contract import (
    MAX_INLINE_CROP_BYTES,
    ContractError,
    CropRef,
    DeadLetter,
    DetectionEvent,
    WindowStats,
    dead_letter,
    parse,
)
from contract.schemas import MODEL_BY_TOPIC, load, render, schema_path
from tests.factories import detection, detection_dict


def test_valid_event_round_trips_byte_for_byte():
    event = detection()
    wire = event.to_json()
    again = parse(DetectionEvent, wire)
    assert again == event
    assert again.to_json() == wire
    assert event.key == b"cam-1"


def test_minimal_event_without_groups_or_signal_is_valid():
    event = parse(DetectionEvent, json.dumps(detection_dict(groups=[], signal_state=None)))
    assert event.groups == () and event.signal_state is None
    assert "signal_state" not in json.loads(event.to_json())


@pytest.mark.parametrize(
    ("mutate", "reason_part"),
    [
        (lambda e: e.pop("camera_id"), "camera_id: Field required"),
        (lambda e: e.update(captured_at_ms=-5), "captured_at_ms"),
        (lambda e: e.update(schema_version=2), "schema_version"),
        (lambda e: e.update(unexpected=1), "unexpected: Extra inputs are not permitted"),
        (lambda e: e["objects"][0].update(class_name="dragon"), "objects.0.class_name"),
        (lambda e: e["objects"][0].update(confidence=1.5), "objects.0.confidence"),
        (lambda e: e["objects"][0]["box"].update(x2=1), "box corners out of order"),
        (lambda e: e["groups"][0].update(member_indices=[0, 9]), "missing objects [9]"),
        (lambda e: e["groups"][0].update(crop_sha256="abc"), "crop_sha256"),
        (lambda e: e.update(signal_state="purple"), "signal_state"),
    ],
)
def test_invalid_events_are_rejected_with_the_field_named(mutate, reason_part):
    event = detection_dict()
    mutate(event)
    with pytest.raises(ContractError) as err:
        parse(DetectionEvent, json.dumps(event))
    assert reason_part in err.value.reason


@pytest.mark.parametrize("raw", [b"", b"not json", b"[1,2]", b'{"camera_id": "x"', b"\xff\xfe"])
def test_garbage_is_a_contract_error_not_a_crash(raw):
    with pytest.raises(ContractError):
        parse(DetectionEvent, raw)


def test_inline_crop_is_size_capped():
    event = detection_dict()
    too_big = base64.b64encode(b"\0" * (MAX_INLINE_CROP_BYTES + 1)).decode()
    event["groups"][0]["crop"]["data_b64"] = too_big
    with pytest.raises(ContractError, match="cap"):
        parse(DetectionEvent, json.dumps(event))


def test_crop_by_reference_is_accepted():
    event = detection_dict()
    event["groups"][0]["crop"] = {"kind": "ref", "media_type": "image/jpeg", "ref": "crop:ab"}
    crop = parse(DetectionEvent, json.dumps(event)).groups[0].crop
    assert isinstance(crop, CropRef) and crop.ref == "crop:ab"


def test_dead_letter_keeps_the_original_bytes_and_reason():
    raw = b"\x00garbage"
    letter = dead_letter(
        raw,
        "parse: not json",
        source_topic="detection-results",
        stage="parse",
        partition=2,
        offset=41,
    )
    back = parse(DeadLetter, letter.to_json())
    assert back.original_b64 is not None
    assert base64.b64decode(back.original_b64) == raw
    assert (back.reason, back.partition, back.offset) == ("parse: not json", 2, 41)


@pytest.mark.parametrize("topic", sorted(MODEL_BY_TOPIC))
def test_committed_schemas_match_the_models(topic):
    assert schema_path(topic).read_text() == render(topic)


def test_json_schema_accepts_what_the_model_accepts_and_rejects_the_rest():
    schema = load("detection-results")
    jsonschema.validate(json.loads(detection().to_json()), schema)
    bad = detection_dict()
    bad["objects"][0]["confidence"] = 3
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_window_stats_round_trip():
    stats = WindowStats(
        schema_version=1,
        camera_id="c",
        window_start_ms=0,
        window_end_ms=60000,
        frames=3,
        objects=9,
        vehicles=6,
        pedestrians=3,
        distinct_tracks=4,
        mean_vehicles_per_frame=2.0,
        peak_vehicles_per_frame=3,
    )
    assert parse(WindowStats, stats.to_json()) == stats


def test_contract_reference_doc_is_generated_from_the_models():
    from contract.docs import DOC
    from contract.docs import render as render_doc

    assert DOC.read_text() == render_doc()
    assert "| `captured_at_ms` | `int` | yes |" in render_doc()
