"""The offline COCO model on a real photo, and the sample input built from it."""

from __future__ import annotations

import pytest

from detector import sample
from detector.models import SsdMobilenetCoco
from detector.pipeline import CameraPipeline, image_folder

pytestmark = pytest.mark.skipif(
    not list(sample.CACHE.glob(sample.ULTRALYTICS_WHEEL_GLOB)),
    reason="sample photos not fetched: run ./dev setup",
)


@pytest.fixture(scope="module")
def model() -> SsdMobilenetCoco:
    return SsdMobilenetCoco()


def test_finds_the_bus_and_people_in_the_real_photo(model):
    found = model.detect(sample._photo("bus.jpg"))
    classes = [d.class_name for d in found]
    assert "bus" in classes
    assert classes.count("person") >= 2
    bus = next(d for d in found if d.class_name == "bus")
    assert bus.confidence > 0.8


# Where the road users are in bus.jpg (810x1080), boxes read off the photo by eye.
BUS_JPG_TRUTH = [
    ("bus", (17, 230, 805, 745)),
    ("person", (50, 400, 245, 905)),
    ("person", (220, 405, 345, 860)),
    ("person", (670, 380, 810, 880)),
]


def box_iou(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / area


def test_boxes_are_in_the_right_place(model):
    found = model.detect(sample._photo("bus.jpg"))
    for cls, truth in BUS_JPG_TRUTH:
        best = max(
            (box_iou((d.x1, d.y1, d.x2, d.y2), truth) for d in found if d.class_name == cls),
            default=0.0,
        )
        assert best >= 0.75, f"{cls} at {truth}: best IoU {best:.2f}"
    assert len(found) <= len(BUS_JPG_TRUTH) + 1  # no pile of duplicates


def test_per_class_thresholds_filter_one_class():
    strict = SsdMobilenetCoco(class_thresholds={"person": 0.95})
    classes = [d.class_name for d in strict.detect(sample._photo("bus.jpg"))]
    assert classes.count("person") == 1  # only the 0.99 one
    assert "bus" in classes


def test_sample_frames_pan_so_objects_move(tmp_path, model):
    folders = sample.build_sample(frames_per_camera=3, out=tmp_path)
    assert sorted(folders) == sorted(sample.CAMERAS)
    pipeline = CameraPipeline("cam-bus-east", model)
    events = [
        pipeline.process(frame, i, 1_000 * i)
        for i, frame in enumerate(image_folder(folders["cam-bus-east"]))
    ]
    assert len(events) == 3
    buses = [next(o for o in e.objects if o.class_name == "bus") for e in events]
    assert buses[0].track_id == buses[2].track_id
    assert buses[1].velocity_px_s is not None
    assert all(e.detector == "ssd-mobilenet-v2-coco" for e in events)


def test_pan_shifts_the_scene_by_the_step_each_frame():
    photo = sample._photo("zidane.jpg")
    frames = sample.pan_frames(photo, (4, 1), 3)
    assert all(f.shape == (480, 640, 3) for f in frames)
    # What was at (x+4, y+1) in one frame is at (x, y) in the next: the scene moves.
    assert (frames[1][:-1, :-4] == frames[0][1:, 4:]).all()
    assert not (frames[1] == frames[0]).all()
