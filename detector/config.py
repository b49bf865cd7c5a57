"""The detector service's configuration: many cameras in one YAML file, validated.

Every model forbids unknown fields and describes each field, so a typo is an error that
names the field (``cameras[1].sample_fps: ...``) instead of a silently ignored setting.
See ``detector/cameras.example.yaml`` and docs/detector.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from contract import redis_keys, topics
from contract.endpoints import Endpoints
from contract.models import ObjectClass

Point = tuple[float, float]


class ConfigError(ValueError):
    """The configuration is invalid; the message names each bad field."""


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Line(_Strict):
    """A named segment; an object crosses it when its ground point passes from one side."""

    name: str = Field(min_length=1, description="Line name reported in `crossed_lines`.")
    points: tuple[Point, Point] = Field(description="The two end points [[x, y], [x, y]], px.")


class Polygon(_Strict):
    """A named area; an object is in it when its ground point (bottom centre) lies inside."""

    name: str = Field(min_length=1, description="Zone name reported in `zones`.")
    polygon: tuple[Point, ...] = Field(min_length=3, description="Corners [[x, y], ...], px.")


class Lane(Polygon):
    """A lane polygon with the direction traffic may move in it."""

    direction: Point = Field(
        description="Allowed direction of travel as a vector [dx, dy] in image pixels; "
        "tracks moving against it get the zone `wrong_way`."
    )

    @field_validator("name")
    @classmethod
    def _lane_prefix(cls, value: str) -> str:
        if not value.startswith("lane"):
            raise ValueError("lane names start with 'lane' (the job counts lane flow by it)")
        return value

    @field_validator("direction")
    @classmethod
    def _non_zero(cls, value: Point) -> Point:
        if value == (0.0, 0.0):
            raise ValueError("direction must not be the zero vector")
        return value


class Region(_Strict):
    """An axis-aligned rectangle in frame pixels."""

    x1: int = Field(ge=0, description="Left edge, px.")
    y1: int = Field(ge=0, description="Top edge, px.")
    x2: int = Field(gt=0, description="Right edge, px (exclusive).")
    y2: int = Field(gt=0, description="Bottom edge, px (exclusive).")


class Scene(_Strict):
    """What the camera looks at: lines, zones and where the traffic light is."""

    stop_line: tuple[Point, Point] | None = Field(
        default=None, description="Stop line end points; crossings are named `stop_line`."
    )
    crosswalk: tuple[Point, ...] | None = Field(
        default=None, min_length=3, description="Crosswalk polygon; the zone is `crosswalk`."
    )
    lanes: tuple[Lane, ...] = Field(default=(), description="Lane polygons with directions.")
    lines: tuple[Line, ...] = Field(default=(), description="Further named counting lines.")
    zones: tuple[Polygon, ...] = Field(default=(), description="Further named zones.")
    traffic_light: Region | None = Field(
        default=None, description="Region of the traffic light whose colour gives signal_state."
    )
    min_wrong_way_speed_px_s: float = Field(
        default=5.0, ge=0, description="Slower tracks are never flagged `wrong_way`."
    )


class Reconnect(_Strict):
    """Exponential backoff for live streams that drop or fail to open."""

    initial_s: float = Field(default=1.0, gt=0, description="First wait before reopening.")
    max_s: float = Field(default=60.0, gt=0, description="Longest wait between attempts.")
    factor: float = Field(default=2.0, ge=1, description="Wait multiplier per failed attempt.")
    max_attempts: int | None = Field(
        default=None, ge=1, description="Give the camera up after this many; null: never."
    )


class _Source(_Strict):
    """A camera input; `live` ones are read by a thread on the wall clock and reopened with
    backoff, the others are files replayed on their own timeline. `str()` gives the short
    string form, as logs and messages name the input."""

    live: ClassVar[bool] = False


class _UrlSource(_Source):
    live: ClassVar[bool] = True
    url: str = Field(description="Stream URL, opened by OpenCV's FFmpeg backend.")

    @property
    def capture_target(self) -> str:
        """What OpenCV's VideoCapture opens."""
        return self.url

    def __str__(self) -> str:
        return self.url


class RtspSource(_UrlSource):
    """An RTSP camera stream."""

    type: Literal["rtsp"] = Field(description="Source selector.")
    url: str = Field(pattern=r"^rtsps?://", description="rtsp:// or rtsps:// stream URL.")


class HttpSource(_UrlSource):
    """A stream over HTTP (MJPEG, HLS, ...)."""

    type: Literal["http"] = Field(description="Source selector.")
    url: str = Field(pattern=r"^https?://", description="http:// or https:// stream URL.")


class StreamSource(_UrlSource):
    """Another network stream FFmpeg reads: RTMP, raw UDP or TCP."""

    type: Literal["stream"] = Field(description="Source selector.")
    url: str = Field(pattern=r"^(rtmp|udp|tcp)://", description="rtmp://, udp:// or tcp:// URL.")


class WebcamSource(_Source):
    """A local capture device."""

    live: ClassVar[bool] = True
    type: Literal["webcam"] = Field(description="Source selector.")
    index: int = Field(ge=0, description="Device number N (/dev/videoN on Linux).")

    @property
    def capture_target(self) -> int:
        """What OpenCV's VideoCapture opens."""
        return self.index

    def __str__(self) -> str:
        return f"webcam:{self.index}"


class FileSource(_Source):
    """A video file, sampled on its own timeline; ends at the end of the file."""

    type: Literal["file"] = Field(description="Source selector.")
    path: Path = Field(description="Video file (any container and codec OpenCV reads).")

    def __str__(self) -> str:
        return str(self.path)


class FolderSource(_Source):
    """A folder of still images (jpg/png/bmp) replayed in name order."""

    type: Literal["folder"] = Field(description="Source selector.")
    path: Path = Field(description="Image folder.")

    def __str__(self) -> str:
        return str(self.path)


_URL_SOURCES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("rtsp://", "rtsps://"), "rtsp"),
    (("http://", "https://"), "http"),
    (("rtmp://", "udp://", "tcp://"), "stream"),
)


def source_from_string(value: object) -> object:
    """The short string form of a source as its typed form; anything else passes unchanged.

    URLs by scheme, `webcam:N`, else a path: a folder when it is one (or, not existing yet,
    has no file suffix), otherwise a video file. A typed mapping says it explicitly.
    """
    if not isinstance(value, str):
        return value
    if not value:
        raise ValueError("source must not be empty")
    for prefixes, kind in _URL_SOURCES:
        if value.startswith(prefixes):
            return {"type": kind, "url": value}
    if value.startswith("webcam:"):
        index = value.removeprefix("webcam:")
        if not index.isdigit():
            raise ValueError(f"webcam:N needs a device number N, got {value!r}")
        return {"type": "webcam", "index": int(index)}
    path = Path(value)
    is_folder = path.is_dir() or (not path.exists() and not path.suffix)
    return {"type": "folder" if is_folder else "file", "path": value}


LiveInput = RtspSource | HttpSource | StreamSource | WebcamSource

CameraSource = Annotated[
    LiveInput | FileSource | FolderSource,
    Field(discriminator="type"),
    BeforeValidator(source_from_string),
]
_SOURCE = TypeAdapter[CameraSource](CameraSource)


def parse_source(value: str | dict[str, object]) -> CameraSource:
    """A source from its string or mapping form, as `cameras[].source` reads it."""
    return _SOURCE.validate_python(value)


class Camera(_Strict):
    """One input: a stream URL, a video file, an image folder or a webcam."""

    id: str = Field(min_length=1, max_length=128, description="Camera id, the Kafka key.")
    source: CameraSource = Field(
        description="A typed source ({type: rtsp|http|stream, url}, {type: file|folder, path}, "
        "{type: webcam, index}) or its string form: rtsp://, http(s)://, rtmp/udp/tcp:// URL; "
        "a video file; an image folder; `webcam:N` for local device N.",
    )
    sample_fps: float = Field(default=1.0, gt=0, le=60, description="Frames analysed per s.")
    scene: Scene = Field(default_factory=Scene, description="Lines, zones, traffic light.")
    reconnect: Reconnect = Field(default_factory=Reconnect, description="Stream reconnection.")
    limit: int | None = Field(default=None, ge=1, description="Stop after this many frames.")
    pace: bool = Field(
        default=False,
        description="Files and folders: deliver frames at sample_fps on the wall clock, like a "
        "live camera (event time = wall clock; a sample replaced before it was analysed counts "
        "as dropped `behind`). Streams are always paced.",
    )


class SsdModel(_Strict):
    """The offline default: SSD-MobileNet-v2 COCO through OpenCV DNN."""

    type: Literal["ssd"] = Field(description="Backend selector.")
    min_confidence: float = Field(default=0.4, ge=0, le=1, description="Default threshold.")
    class_thresholds: dict[ObjectClass, float] = Field(
        default_factory=dict, description="Per-class confidence thresholds (override)."
    )
    merge_iou: float = Field(default=0.6, gt=0, le=1, description="Cross-class merge IoU.")


class YoloModel(_Strict):
    """Any model ultralytics' YOLO() accepts: a weights path, a model name or a yaml."""

    type: Literal["yolo"] = Field(description="Backend selector.")
    weights: str = Field(default="yolo11n.pt", description="Weights path or model name.")
    device: str = Field(default="cpu", description="torch device: cpu, cuda, cuda:0, mps.")
    image_size: int = Field(default=640, ge=32, description="Inference size, px.")
    max_detections: int = Field(default=100, ge=1, description="Most boxes kept per frame.")
    min_confidence: float = Field(default=0.25, ge=0, le=1, description="Default threshold.")
    class_thresholds: dict[ObjectClass, float] = Field(
        default_factory=dict, description="Per-class confidence thresholds (override)."
    )
    merge_iou: float = Field(default=0.6, gt=0, le=1, description="Cross-class merge IoU.")


ModelConfig = Annotated[SsdModel | YoloModel, Field(discriminator="type")]


class Tracker(_Strict):
    """ByteTrack (supervision's, no torch needed) on any model's boxes."""

    type: Literal["bytetrack"] = Field(default="bytetrack", description="Tracker.")
    track_buffer: int = Field(default=30, ge=1, description="Frames a lost track is kept.")
    match_thresh: float = Field(default=0.8, gt=0, le=1, description="ByteTrack match cost.")


class Inference(_Strict):
    """Parallel inference: model instances, each called by its own worker thread."""

    workers: int | None = Field(
        default=None, ge=1, le=256,
        description="Model instances (one worker thread each); null: one per CPU the process "
        "may use.",
    )  # fmt: skip
    threads: int | None = Field(
        default=None, ge=1, le=256,
        description="Threads one model call may use (OpenCV / torch, process-wide); null: "
        "CPUs // workers, at least 1.",
    )  # fmt: skip


class Output(_Strict):
    """Where events and crops go."""

    bootstrap: str = Field(
        default_factory=lambda: Endpoints.from_env().kafka_bootstrap,
        description="Kafka bootstrap servers [TRAFFIC_KAFKA_BOOTSTRAP].",
    )
    topic: str = Field(default=topics.DETECTION_RESULTS, description="Output topic.")
    kafka_properties: dict[str, str] = Field(
        default_factory=dict,
        description="Further librdkafka producer properties, e.g. for TLS: security.protocol: "
        "ssl, ssl.ca.location / ssl.certificate.location / ssl.key.location (files, so no "
        "credential sits in this file); the publisher's own settings cannot be overridden.",
    )
    crops: Literal["inline", "redis", "none"] = Field(
        default="inline", description="Group crops inline, in Redis by reference, or none."
    )
    redis_url: str = Field(
        default_factory=lambda: Endpoints.from_env().redis_url,
        description="Redis for stored crops [TRAFFIC_REDIS_URL].",
    )
    crop_ttl_s: int = Field(
        default=redis_keys.CROP_TTL_S, ge=1, le=redis_keys.CROP_TTL_MAX_S,
        description="Seconds a crop stored in Redis is kept (its key's TTL); crops show "
        "people, so at most a day.",
    )  # fmt: skip
    buffer_max_bytes: int = Field(
        default=64 * 1024 * 1024,
        ge=1024,
        description="Memory budget for events waiting while Kafka is unreachable; the "
        "oldest are dropped beyond it.",
    )
    flush_timeout_s: float = Field(default=30.0, ge=0, description="Flush wait at shutdown.")

    @field_validator("kafka_properties", mode="before")
    @classmethod
    def _kafka_values_as_text(cls, given: object) -> object:
        """YAML scalars as librdkafka reads them (`true`, not Python's `True`)."""
        if isinstance(given, dict):
            return {str(k): str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in given.items()}  # fmt: skip
        return given

    @field_validator("kafka_properties")
    @classmethod
    def _not_the_publishers_own(cls, given: dict[str, str]) -> dict[str, str]:
        from detector.publisher import OWN_PROPERTIES

        taken = sorted(set(given) & OWN_PROPERTIES)
        if taken:
            raise ValueError(f"set by the publisher, not here: {', '.join(taken)}")
        return given


class Health(_Strict):
    """The HTTP health endpoint Kubernetes probes (detector/health.py)."""

    port: int | None = Field(
        default=9109, ge=1, le=65535,
        description="Port of GET /healthz (liveness) and /readyz (readiness); null: off "
        "[TRAFFIC_DETECTOR_HEALTH_PORT].",
    )  # fmt: skip
    ready_within_s: float = Field(
        default=30.0, gt=0,
        description="Ready while Kafka acknowledged an event and a camera published one "
        "within this many seconds [TRAFFIC_DETECTOR_READY_WITHIN_S].",
    )  # fmt: skip


class Service(_Strict):
    """The whole service: cameras, model, tracker, output, operations."""

    cameras: tuple[Camera, ...] = Field(min_length=1, description="The inputs.")
    model: ModelConfig = Field(default_factory=lambda: SsdModel(type="ssd"), description="Model.")
    tracker: Tracker = Field(default_factory=Tracker, description="Tracker.")
    inference: Inference = Field(default_factory=Inference, description="Worker pool.")
    output: Output = Field(default_factory=Output, description="Kafka and crops.")
    proximity: float = Field(default=1.0, gt=0, description="Group gap / smaller box size.")
    metrics_port: int | None = Field(
        default=9108, ge=1, le=65535, description="Prometheus /metrics port; null: off."
    )
    health: Health = Field(default_factory=Health, description="Health endpoint (probes).")
    annotate_dir: Path | None = Field(
        default=None, description="Write <camera>.mp4 with boxes, ids, zones, signal here."
    )
    start_ms: int | None = Field(
        default=None, ge=0, description="Event time of a file's first frame (default: now)."
    )

    @field_validator("cameras")
    @classmethod
    def _unique_ids(cls, value: tuple[Camera, ...]) -> tuple[Camera, ...]:
        ids = [c.id for c in value]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"camera ids must be unique, repeated: {dupes}")
        return value


def _where(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def parse_config(data: object) -> Service:
    """Validate a loaded YAML document; errors list `path.to.field: problem` lines."""
    try:
        return Service.model_validate(data)
    except ValidationError as err:
        errors = err.errors()
        # A list whose items failed also reports itself as too short: noise, drop it.
        deeper = {e["loc"][:-1] for e in errors if len(e["loc"]) > 1}
        errors = [e for e in errors if not (e["type"] == "too_short" and e["loc"] in
                  {loc[: len(e["loc"])] for loc in deeper})]  # fmt: skip
        lines = [f"{_where(e['loc'])}: {e['msg']}" for e in errors]
        raise ConfigError("invalid detector config:\n  " + "\n  ".join(lines)) from None


def load_config(path: Path) -> Service:
    """Read and validate a YAML config file."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise ConfigError(f"cannot read {path}: {err}") from None
    return parse_config(data)
