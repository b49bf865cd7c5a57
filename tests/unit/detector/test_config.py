"""The YAML config: the example loads; bad input names the bad field."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from detector.config import ConfigError, Service, YoloModel, load_config, parse_config
from detector.models import build_detector

EXAMPLE = Path(__file__).parents[3] / "detector" / "cameras.example.yaml"


def test_example_config_loads_every_kind_of_input():
    config = load_config(EXAMPLE)
    kinds = {c.id: c.source.type for c in config.cameras}
    assert kinds == {
        "cam-plaza": "folder",
        "cam-bus-east": "folder",
        "junction-north": "rtsp",
        "dashcam": "file",
        "desk": "webcam",
    }
    east = next(c for c in config.cameras if c.id == "cam-bus-east")
    assert east.scene.lanes[0].direction == (0.0, 1.0)
    assert east.scene.traffic_light is not None
    assert config.cameras[0].sample_fps == 1.0  # default 1 frame/s
    assert config.metrics_port == 9108


def test_defaults_are_offline_model_and_bytetrack():
    config = parse_config({"cameras": [{"id": "a", "source": "x"}]})
    assert isinstance(config, Service)
    assert config.model.type == "ssd"
    assert config.tracker.type == "bytetrack"
    assert config.output.crops == "inline"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"cameras": [{"id": "a", "source": "x", "sample_fps": 0}]}, "cameras[0].sample_fps"),
        ({"cameras": [{"id": "a", "source": "x", "fps": 2}]}, "cameras[0].fps: Extra inputs"),
        ({"cameras": [{"id": "a"}]}, "cameras[0].source: Field required"),
        ({"cameras": [{"id": "a", "source": "x"}] * 2}, "camera ids must be unique"),
        ({"cameras": [], "model": {"type": "ssd"}}, "cameras: "),
        (
            {"cameras": [{"id": "a", "source": "x"}], "model": {"type": "yolo", "devise": "cpu"}},
            "model.yolo.devise: Extra inputs",
        ),
        ({"cameras": [{"id": "a", "source": "x"}], "model": {"type": "tf"}}, "model: "),
        (
            {
                "cameras": [
                    {
                        "id": "a",
                        "source": "x",
                        "scene": {
                            "lanes": [
                                {
                                    "name": "left",
                                    "polygon": [[0, 0], [1, 0], [1, 1]],
                                    "direction": [1, 0],
                                }
                            ]
                        },
                    }
                ]
            },
            "cameras[0].scene.lanes[0].name: Value error, lane names start with 'lane'",
        ),
        (
            {"cameras": [{"id": "a", "source": "x", "scene": {"crosswalk": [[0, 0], [1, 1]]}}]},
            "cameras[0].scene.crosswalk",
        ),
    ],
)
def test_errors_name_the_bad_field(doc, message):
    with pytest.raises(ConfigError) as err:
        parse_config(doc)
    assert message in str(err.value)


def test_yaml_syntax_errors_are_config_errors(tmp_path):
    bad = tmp_path / "c.yaml"
    bad.write_text("cameras: [\n")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(bad)


def test_per_class_thresholds_accept_only_road_user_classes():
    ok = YoloModel(type="yolo", class_thresholds={"person": 0.3})
    assert ok.class_thresholds == {"person": 0.3}
    with pytest.raises(ConfigError, match=r"class_thresholds\.giraffe"):
        parse_config(
            {
                "cameras": [{"id": "a", "source": "x"}],
                "model": {"type": "ssd", "class_thresholds": {"giraffe": 0.3}},
            }
        )


def test_kafka_properties_add_client_settings_but_never_replace_the_publishers():
    from detector.publisher import OWN_PROPERTIES, producer_config

    cam = [{"id": "c", "source": "clip.mp4"}]
    given = {"security.protocol": "ssl", "ssl.key.location": "/k/user.key",
             "enable.ssl.certificate.verification": True}  # fmt: skip
    output = parse_config({"cameras": cam, "output": {"kafka_properties": given}}).output
    assert output.kafka_properties["enable.ssl.certificate.verification"] == "true"
    merged = producer_config("h:1", client_properties=output.kafka_properties)
    assert {k: merged[k] for k in given} == {**given, "enable.ssl.certificate.verification": "true"}
    for own in sorted(OWN_PROPERTIES):
        assert own in producer_config("h:1")  # the list is what producer_config sets
        with pytest.raises(ConfigError, match=f"kafka_properties: .*{own}"):
            parse_config({"cameras": cam, "output": {"kafka_properties": {own: "1"}}})


def test_crop_retention_is_bounded_to_a_day():
    from contract import redis_keys

    cam = [{"id": "c", "source": "clip.mp4"}]
    assert parse_config({"cameras": cam}).output.crop_ttl_s == redis_keys.CROP_TTL_S == 3600
    limit = redis_keys.CROP_TTL_MAX_S
    assert parse_config({"cameras": cam, "output": {"crop_ttl_s": limit}}).output.crop_ttl_s
    for bad in (0, limit + 1):
        with pytest.raises(ConfigError, match=r"output\.crop_ttl_s"):
            parse_config({"cameras": cam, "output": {"crop_ttl_s": bad}})


@pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is not None,
    reason="ultralytics is installed: the YOLO path itself runs (test_yolo_backend.py)",
)
def test_yolo_without_its_extra_says_how_to_install_it():
    with pytest.raises(RuntimeError, match=r"\./dev setup --yolo"):
        build_detector(YoloModel(type="yolo", weights="yolo11n.yaml"))
