"""The camera's edge.toml: one typed section per concern, checked before the first frame.

A tech calibrates zones by hand, so a broken polygon or exit line is the most likely mistake;
the checks here name the zone and say what is wrong with it (crossing edges, a line that
misses its polygon) instead of letting the pipeline count nothing for a day.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from peakend.broker.device.config import (
    ConfigError,
    DeviceSection,
    MqttSection,
    OutboxSection,
    Section,
    load_config,
)
from peakend.broker.wire.contract import SLUG_PATTERN
from peakend.edge import geometry
from peakend.edge.detectors import DetectorSettings, MotionSettings

Point = tuple[float, float]


class CameraSection(Section):
    """Where frames come from and how fast they are processed."""

    source: str = Field(
        default="0",
        title="Source",
        description='Camera index ("0" = /dev/video0), a video file, an rtsp:// URL, or '
        '"picamera2" for the Pi camera module.',
    )
    fps: float = Field(
        default=10.0,
        gt=0,
        le=60,
        title="Processing rate",
        description="Frames per second processed from a live source; older frames are dropped. "
        "A replayed file uses its own frame rate.",
    )
    width: int | None = Field(
        default=None, ge=64, le=4096, title="Capture width", description="Requested width (px)."
    )
    height: int | None = Field(
        default=None, ge=48, le=4096, title="Capture height", description="Requested height (px)."
    )
    view: Literal["overhead", "oblique"] = Field(
        default="overhead",
        title="Camera view",
        description="overhead: a person's floor point is the centre of their blob; oblique: "
        "the bottom-centre of their box (their feet).",
    )


# One settings model per detector, chosen by ``kind`` (each refuses the others' keys).
DetectorSection = DetectorSettings


class TrackerSection(Section):
    """How detections become people that keep their identity."""

    max_distance_px: float | None = Field(
        default=None,
        gt=0,
        title="Gate override (px)",
        description="Farthest a person may be from where their track expected them. Leave "
        "unset: it follows the person size the camera learned (1.5 people).",
    )
    max_missed_s: float = Field(
        default=6.0,
        gt=0,
        title="Coast (s)",
        description="How long a person missed by the detector keeps their track; someone "
        "standing still in a queue must not vanish.",
    )
    relink_s: float = Field(
        default=10.0,
        ge=0,
        title="Relink (s)",
        description="A person found again near where a lost track was, within this time, "
        "continues that track's visit instead of starting a new one.",
    )
    min_hits: int = Field(
        default=3,
        ge=1,
        le=30,
        title="Confirm after",
        description="Detections needed before a track counts (filters flicker).",
    )


class CalibrationSection(Section):
    """How the camera learns the size of one person (and keeps it across restarts)."""

    path: str = Field(
        default="calibration.json",
        title="State file",
        description="Where the learned scale is kept between restarts, with a tiny "
        "thumbnail of the empty floor to notice a moved camera; relative to this file.",
    )
    min_people: int = Field(
        default=12,
        ge=3,
        le=1000,
        title="People needed",
        description="Lone people the scale must rest on before it counts as calibrated.",
    )


class ZoneSection(Section):
    """One area of the floor; with an exit line it is a queue."""

    name: str = Field(
        pattern=SLUG_PATTERN,
        title="Zone id",
        description="The zone id on the hub, e.g. checkout (lowercase letters, digits, dashes).",
    )
    polygon: list[Point] = Field(
        title="Polygon",
        description="Corners in source-frame pixels, e.g. [[120, 80], [600, 80], [600, 470]].",
    )
    exit_line: tuple[Point, Point] | None = Field(
        default=None,
        title="Exit line",
        description="Two points; crossing it out of the polygon ends the wait (makes a queue).",
    )
    enter_s: float = Field(
        default=0.5,
        ge=0,
        title="Enter inertia (s)",
        description="A person counts as inside after being inside this long.",
    )
    exit_s: float = Field(
        default=1.0,
        ge=0,
        title="Exit inertia (s)",
        description="A person counts as gone after being outside this long.",
    )
    min_visit_s: float = Field(
        default=1.0,
        ge=0,
        title="Shortest visit (s)",
        description="Shorter visits (someone cutting a corner) are not reported.",
    )

    @model_validator(mode="after")
    def _shape(self) -> ZoneSection:
        problem = geometry.polygon_problem(self.polygon)
        if problem:
            raise ValueError(f"zone {self.name!r}: polygon {problem}")
        if self.exit_line is not None:
            problem = geometry.exit_line_problem(self.exit_line, self.polygon)
            if problem:
                raise ValueError(f"zone {self.name!r}: exit_line {problem}")
        return self

    @property
    def is_queue(self) -> bool:
        return self.exit_line is not None


class QueueSection(Section):
    """Queue reports for zones with an exit line."""

    window_s: float = Field(
        default=10.0, gt=0, le=3600, title="Window (s)", description="One queue message per window."
    )
    horizon_s: float = Field(
        default=300.0,
        gt=0,
        title="Horizon (s)",
        description="Recent past used for the measured wait and the service rate.",
    )
    pace_path: str = Field(
        default="pace.json",
        title="Pace file",
        description="Where each queue's till pace (the latest service gaps and the quickest "
        "walk through the lane, in seconds) is kept between restarts, so waits are predicted "
        "from the first call after a start; relative to this file.",
    )


class HealthSection(Section):
    """Device vitals sent to the hub."""

    interval_s: float = Field(
        default=60.0, ge=1, title="Interval (s)", description="One health message per interval."
    )


class EdgeConfig(Section):
    """A camera Pi's configuration (edge.toml)."""

    device: DeviceSection = Field(title="Device", description="Identity registered on the hub.")
    mqtt: MqttSection | None = Field(
        default=None, title="MQTT", description="The hub's broker; not needed with --no-publish."
    )
    outbox: OutboxSection = Field(
        default_factory=lambda: OutboxSection(), title="Outbox", description="Durable queue."
    )
    camera: CameraSection = Field(
        default_factory=lambda: CameraSection(), title="Camera", description="Frame source."
    )
    detector: DetectorSection = Field(
        default_factory=lambda: MotionSettings(),
        title="Detector",
        description="Person finder: kind = motion (default), dnn or hog, with its own keys.",
    )
    tracker: TrackerSection = Field(
        default_factory=lambda: TrackerSection(), title="Tracker", description="Identity keeper."
    )
    calibration: CalibrationSection = Field(
        default_factory=lambda: CalibrationSection(),
        title="Calibration",
        description="Self-calibration of the person scale.",
    )
    zones: list[ZoneSection] = Field(
        min_length=1,
        title="Zones",
        description="One or more [[zones]] tables, each a name, a polygon of 3+ corners listed "
        "in order around the zone, and optionally an exit_line on its edge",
    )
    queue: QueueSection = Field(
        default_factory=lambda: QueueSection(), title="Queue", description="Queue windows."
    )
    health: HealthSection = Field(
        default_factory=lambda: HealthSection(), title="Health", description="Vitals."
    )

    @field_validator("device")
    @classmethod
    def _edge_role(cls, value: DeviceSection) -> DeviceSection:
        if value.role != "edge":
            raise ValueError(f'role is {value.role!r}; a camera config needs role = "edge"')
        return value

    @field_validator("zones")
    @classmethod
    def _unique(cls, zones: list[ZoneSection]) -> list[ZoneSection]:
        seen: set[str] = set()
        for zone in zones:
            if zone.name in seen:
                raise ValueError(f"zone {zone.name!r} is listed twice; zone names must differ")
            seen.add(zone.name)
        return zones

    @model_validator(mode="after")
    def _zones_on_the_hub(self) -> EdgeConfig:
        # A zone the hub does not know for this camera is quarantined there, message after
        # message, while the camera looks healthy: catch the mistyped name here instead.
        registered = self.device.zones
        if registered is None:
            return self
        for zone in self.zones:
            if zone.name not in registered:
                raise ValueError(
                    f"zone {zone.name!r} is not a zone the hub accepts from "
                    f"{self.device.id} ({', '.join(registered)}): a typo? Rename it, or "
                    f"provision the camera again with --zone {zone.name}"
                )
        return self

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        # kind may be left out of [detector]: motion, as before the detectors had own models.
        if isinstance(data, dict) and isinstance(data.get("detector"), dict):
            if "kind" not in data["detector"]:
                data = {**data, "detector": {"kind": "motion", **data["detector"]}}
        return data


def load(path: str | Path) -> tuple[EdgeConfig, Path]:
    """Load and check edge.toml; returns the config and the folder relative paths start from."""
    path = Path(path)
    return load_config(path, EdgeConfig), path.parent


def check_frame(config: EdgeConfig, width: int, height: int) -> None:
    """Refuse zones drawn for another resolution, before a day of empty counts."""
    for zone in config.zones:
        points = list(zone.polygon) + (list(zone.exit_line) if zone.exit_line else [])
        for x, y in points:
            if not (0 <= x <= width and 0 <= y <= height):
                raise ConfigError(
                    f"zone {zone.name!r}: point ({x:g}, {y:g}) is outside the {width}x{height} "
                    "frame; redraw the zone on a snapshot of this camera (peakend edge snapshot)"
                )
