"""Windows stage, in Flink SQL: per-camera tumbling event-time windows of accepted events.

Runs entirely in the JVM; Python sees one row per camera and window (`udfs.windows.stats`).
"""

from __future__ import annotations

import typing

from contract.models import DetectedObject

# One count column per class the contract knows (`n_traffic_light` for "traffic light").
CLASS_COLUMNS: dict[str, str] = {
    name: "n_" + name.replace(" ", "_")
    for name in typing.get_args(DetectedObject.model_fields["class_name"].annotation)
}

# Column order of window_stats_sql(): udfs.windows.stats.window_stats takes them positionally.
WINDOW_COLUMNS = (
    "camera_id",
    "window_start",
    "window_end",
    "frames",
    "objects",
    "distinct_tracks",
    "peak_vehicles_per_frame",
    "mean_vehicle_speed_px_s",
    "crossings",
    *CLASS_COLUMNS.values(),
)


def window_stats_sql(window_s: int, view: str = "detections_ok") -> str:
    """Per-camera tumbling event-time windows over the accepted records of ``view``.

    Objects are unnested (LEFT JOIN keeps frames without objects); per-frame vehicle
    counts come from the class array so the peak needs no second aggregation. Line
    crossings are rare, so they leave SQL as one `lanes>lines` token list per window.
    """
    per_class = ",\n  ".join(
        f"COALESCE(SUM(CASE WHEN cls = '{name}' THEN 1 ELSE 0 END), 0) AS {column}"
        for name, column in CLASS_COLUMNS.items()
    )
    return f"""
SELECT camera_id, EPOCH_MILLIS(window_start) AS window_start,
  EPOCH_MILLIS(window_end) AS window_end,
  COUNT(DISTINCT frame_id) AS frames,
  COUNT(cls) AS objects,
  COUNT(DISTINCT track_id) AS distinct_tracks,
  MAX(frame_vehicles) AS peak_vehicles_per_frame,
  AVG(CASE WHEN is_vehicle THEN speed END) AS mean_vehicle_speed_px_s,
  LISTAGG(crossing, ';') AS crossings,
  {per_class}
FROM TABLE(TUMBLE(TABLE {view}_objects, DESCRIPTOR(ts), INTERVAL '{window_s}' SECOND))
GROUP BY camera_id, window_start, window_end"""


def objects_view_sql(view: str = "detections_ok") -> str:
    """One row per object (or one row with NULLs for a frame without objects)."""
    return f"""
SELECT d.camera_id, d.frame_id, d.ts, d.frame_vehicles, o.class_name AS cls, o.track_id,
  SQRT(POWER(o.vx, 2) + POWER(o.vy, 2)) AS speed,
  o.is_vehicle,
  CASE WHEN CARDINALITY(o.crossed_lines) > 0
    THEN ARRAY_JOIN(o.zones, '|') || '>' || ARRAY_JOIN(o.crossed_lines, '|') END AS crossing
FROM {view} AS d
LEFT JOIN UNNEST(d.objects)
  AS o(class_name, track_id, vx, vy, zones, crossed_lines, is_vehicle) ON TRUE"""
