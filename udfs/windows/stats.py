"""Windows stage logic: a SQL window row -> `WindowStats` with a congestion index (no PyFlink)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from contract import VEHICLE_CLASSES, WindowStats
from udfs.windows.sql import CLASS_COLUMNS


@dataclass(frozen=True)
class CongestionModel:
    """What 'jammed' means for a camera: a full frame of slow vehicles."""

    capacity_vehicles_per_frame: float = 20.0
    free_flow_speed_px_s: float = 50.0

    def index(self, mean_vehicles: float, mean_speed: float | None) -> float:
        """density x slowness in [0, 1]; without speeds, density alone."""
        density = min(1.0, mean_vehicles / self.capacity_vehicles_per_frame)
        if mean_speed is None:
            return round(density, 4)
        slowness = max(0.0, 1.0 - mean_speed / self.free_flow_speed_px_s)
        return round(density * slowness, 4)


def parse_crossings(tokens: str | None) -> tuple[dict[str, int], dict[str, int]]:
    """`lane_a|crosswalk>stop_line;...` -> (crossings per line, crossings per lane)."""
    lines: Counter[str] = Counter()
    lanes: Counter[str] = Counter()
    for token in filter(None, (tokens or "").split(";")):
        zones, _, crossed = token.partition(">")
        crossed_lines = [line for line in crossed.split("|") if line]
        lines.update(crossed_lines)
        for zone in filter(None, zones.split("|")):
            if zone.startswith("lane"):
                lanes[zone] += len(crossed_lines)
    return dict(sorted(lines.items())), dict(sorted(lanes.items()))


def window_stats(
    camera_id: str,
    window_start_ms: int,
    window_end_ms: int,
    frames: int,
    objects: int,
    distinct_tracks: int,
    peak_vehicles_per_frame: int | None,
    mean_vehicle_speed_px_s: float | None,
    crossings: str | None,
    *per_class: int,
    congestion: CongestionModel = CongestionModel(),
) -> WindowStats:
    """A row of `udfs.windows.sql.window_stats_sql` (columns in `WINDOW_COLUMNS` order)."""
    counts = {name: n for name, n in zip(CLASS_COLUMNS, per_class, strict=True) if n}
    vehicles = sum(n for name, n in counts.items() if name in VEHICLE_CLASSES)
    mean_vehicles = round(vehicles / frames, 4) if frames else 0.0
    speed = round(mean_vehicle_speed_px_s, 3) if mean_vehicle_speed_px_s is not None else None
    line_crossings, lane_flow = parse_crossings(crossings)
    return WindowStats(
        schema_version=1,
        camera_id=camera_id,
        window_start_ms=window_start_ms,
        window_end_ms=window_end_ms,
        frames=frames,
        objects=objects,
        vehicles=vehicles,
        pedestrians=counts.get("person", 0),
        distinct_tracks=distinct_tracks,
        mean_vehicles_per_frame=mean_vehicles,
        peak_vehicles_per_frame=peak_vehicles_per_frame or 0,
        class_counts=counts,
        mean_vehicle_speed_px_s=speed,
        line_crossings=line_crossings,
        lane_flow=lane_flow,
        congestion_index=congestion.index(mean_vehicles, speed),
    )
