"""Zones and line crossings on crafted geometry."""

from __future__ import annotations

import pytest

from detector.config import Lane, Line, Scene
from detector.scene import WRONG_WAY, SceneGeometry, heading_deg, inside, segments_cross

SQUARE = ((0, 0), (10, 0), (10, 10), (0, 10))


@pytest.mark.parametrize(
    ("point", "expected"), [((5, 5), True), ((15, 5), False), ((-1, 5), False), ((9.9, 0.1), True)]
)
def test_point_in_polygon(point, expected):
    assert inside(point, SQUARE) is expected


@pytest.mark.parametrize(
    ("p0", "p1", "expected"),
    [
        ((5, 0), (5, 10), True),  # straight across y=5
        ((5, 0), (5, 4), False),  # stops short
        ((5, 6), (5, 10), False),  # already past
        ((20, 0), (20, 10), False),  # beside the segment's end
        ((5, 5), (5, 10), True),  # leaves the line: counted now
        ((5, 0), (5, 5), False),  # lands on the line: not yet
        ((0, 0), (10, 10), True),  # diagonal
    ],
)
def test_segment_crossing(p0, p1, expected):
    assert segments_cross(p0, p1, (0, 5), (10, 5)) is expected


def scene() -> Scene:
    return Scene(
        stop_line=((0, 100), (200, 100)),
        crosswalk=((0, 110), (200, 110), (200, 150), (0, 150)),
        lanes=(
            Lane(
                name="lane_down", polygon=((0, 0), (100, 0), (100, 200), (0, 200)), direction=(0, 1)
            ),
        ),
        lines=(Line(name="gate", points=((150, 0), (150, 200))),),
    )


def test_crossing_is_counted_once_on_the_frame_it_happens():
    geo = SceneGeometry(scene())
    track = 7
    # ground point = bottom centre of the box
    assert geo.crossed(track, (50, 90)) == ()  # first sighting: nothing to compare
    assert geo.crossed(track, (50, 95)) == ()
    assert geo.crossed(track, (50, 105)) == ("stop_line",)
    assert geo.crossed(track, (50, 120)) == ()
    assert geo.crossed(None, (50, 80)) == ()  # untracked objects never cross


def test_diagonal_move_crosses_two_lines():
    geo = SceneGeometry(scene())
    geo.crossed(1, (140, 90))
    assert sorted(geo.crossed(1, (160, 110))) == ["gate", "stop_line"]


def test_zones_and_wrong_way_in_a_lane():
    geo = SceneGeometry(scene())
    assert geo.zones_of((50, 120), (0.0, 20.0)) == ("crosswalk", "lane_down")
    assert geo.zones_of((50, 50), (0.0, -20.0)) == ("lane_down", WRONG_WAY)
    assert geo.zones_of((50, 50), (0.0, -2.0)) == ("lane_down",)  # too slow to judge
    assert geo.zones_of((150, 50), (0.0, -20.0)) == ()
    assert geo.zones_of((50, 50), None) == ("lane_down",)


def test_forgotten_tracks_start_over():
    geo = SceneGeometry(scene())
    geo.crossed(3, (50, 90))
    for _ in range(3):
        geo.end_frame(keep_frames=2)
    assert geo.crossed(3, (50, 110)) == ()


@pytest.mark.parametrize(("v", "deg"), [((1, 0), 0), ((0, 1), 90), ((-1, 0), 180), ((0, -5), 270)])
def test_heading(v, deg):
    assert heading_deg(v) == pytest.approx(deg)
