"""The pluggable parts, each chosen by a config section: detector, store, models.

* ``detector.kind`` picks a :class:`DetectorKind` from :data:`DETECTOR_KINDS`; a kind
  declares whether it can detect in image tiles (``detector.tile_px``) instead of the
  runtime guessing from the object's methods.  Cameras of one kind share one detector:
  a model's session is the costly part, and a camera's own score threshold is applied
  on top (:class:`~crowdsafe.assembly.stages.ThresholdedDetector`).
* ``storage.backend`` picks a builder from :data:`STORE_BACKENDS`.
* Model files are read only through :func:`model_path`, whose roles are exactly
  ``MODEL_ROLES`` (person detector, density counter, face blur): crowdsafe counts people
  and pixelates them, and no other kind of model is ever loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from crowdsafe.config import (
    MODEL_ROLES,
    CrowdsafeConfig,
    DetectorConfig,
    NanoDetConfig,
    PostgresStorageConfig,
    SqliteStorageConfig,
    YoloxNanoConfig,
)
from crowdsafe.density.counter import DensityCounter
from crowdsafe.detect.base import Detector
from crowdsafe.errors import ConfigError
from crowdsafe.privacy.anonymise import Anonymiser
from crowdsafe.privacy.faces import FaceFinder
from crowdsafe.store.base import Store

__all__ = [
    "DETECTOR_KINDS",
    "STORE_BACKENDS",
    "DetectorKind",
    "ModelRole",
    "build_anonymiser",
    "build_density_model",
    "build_detector",
    "build_detectors",
    "build_store",
    "detector_kind",
    "model_path",
    "store_location",
]

ModelRole = Literal["person_detector", "density_counter", "face_blur"]
assert get_args(ModelRole) == tuple(MODEL_ROLES), "ModelRole must list exactly MODEL_ROLES"


def model_path(config: CrowdsafeConfig, role: ModelRole) -> Path | None:
    """The configured model file for ``role`` (resolved against the config's folder),
    or None for the one shipped in the package.  The only way a model path is read."""
    if role not in MODEL_ROLES:  # a typo'd literal from an untyped caller
        raise ConfigError(f"unknown model role '{role}'; the roles are {', '.join(MODEL_ROLES)}")
    path: str | None = getattr(config.models, role).path
    return config.resolve(path) if path else None


@dataclass(frozen=True)
class DetectorKind:
    """How one ``detector.kind`` is built and what it can do.

    ``build(section, model_path, score_threshold, threads)`` makes a detector from a
    camera's ``detector:`` section; ``tile(detector, tile_px)`` wraps it to detect in
    overlapping tiles as well as the whole frame, and is None for a kind that cannot
    (its cameras' ``tile_px`` is then refused with a warning, not ignored silently).
    Cameras whose sections have the same kind, ``provider`` and ``share_key`` share one
    detector."""

    build: Callable[[DetectorConfig, Path | None, float, int | None], Detector]
    tile: Callable[[Detector, int], Detector] | None = None
    share_key: Callable[[DetectorConfig], tuple[object, ...]] = lambda section: ()


def _yolox(
    section: DetectorConfig, path: Path | None, score: float, threads: int | None
) -> Detector:
    from crowdsafe.detect.yolox import YoloxDetector, default_model_path, dynamic_model_path

    assert isinstance(section, YoloxNanoConfig)
    if section.input_shape == "frame":
        model = path or dynamic_model_path()
        return YoloxDetector(
            model, score_threshold=score, threads=threads, input_px=section.input_px
        )
    model = path or default_model_path(section.input_px)
    return YoloxDetector(model, score_threshold=score, threads=threads, provider=section.provider)


def _nanodet(
    section: DetectorConfig, path: Path | None, score: float, threads: int | None
) -> Detector:
    from crowdsafe.detect.nanodet import NanoDetDetector

    assert isinstance(section, NanoDetConfig)
    return NanoDetDetector(
        path,
        score_threshold=score,
        threads=threads,
        letterboxed=section.letterbox,
        provider=section.provider,
    )


def _tile(detector: Detector, tile_px: int) -> Detector:
    from crowdsafe.detect.nanodet import NanoDetDetector
    from crowdsafe.detect.tiled import TiledDetector
    from crowdsafe.detect.yolox import YoloxDetector

    assert isinstance(detector, YoloxDetector | NanoDetDetector), "built by this module"
    return TiledDetector(detector, tile_px)


def _letterbox_key(section: DetectorConfig) -> tuple[object, ...]:
    assert isinstance(section, NanoDetConfig)
    return (section.letterbox,)


def _input_key(section: DetectorConfig) -> tuple[object, ...]:
    assert isinstance(section, YoloxNanoConfig)
    return (section.input_px, section.input_shape)


DETECTOR_KINDS: dict[str, DetectorKind] = {
    "yolox-nano": DetectorKind(build=_yolox, tile=_tile, share_key=_input_key),
    "nanodet": DetectorKind(build=_nanodet, tile=_tile, share_key=_letterbox_key),
}


def detector_kind(name: str) -> DetectorKind:
    """The registered kind ``name``; ConfigError naming the kinds otherwise."""
    spec = DETECTOR_KINDS.get(name)
    if spec is None:  # the config's own validation names the line; this is a backstop
        known = ", ".join(sorted(DETECTOR_KINDS))
        raise ConfigError(f"detector.kind: unknown kind '{name}'; the kinds are {known}")
    return spec


def build_detector(
    section: DetectorConfig,
    *,
    score_threshold: float | None = None,
    threads: int | None = None,
    model: Path | None = None,
) -> Detector:
    """One detector for a ``detector:`` section (at its own score threshold unless
    given), tiled when the section's ``tile_px`` asks for it: what a camera runs, for
    the tools that evaluate or benchmark one."""
    spec = detector_kind(getattr(section, "kind", ""))
    score = section.score_threshold if score_threshold is None else score_threshold
    found = spec.build(section, model, score, threads)
    if section.tile_px and spec.tile is not None:
        return spec.tile(found, section.tile_px)
    return found


def build_detectors(
    config: CrowdsafeConfig, thresholds: dict[str, float]
) -> dict[str, tuple[Detector, DetectorKind]]:
    """Camera id -> (its shared detector, its kind).  Cameras of one kind (and the same
    model settings) share one detector, which keeps every score at or above the lowest
    threshold (``thresholds``: camera id -> score) of those cameras."""
    groups: dict[tuple[object, ...], list[str]] = {}
    sections = {cam.id: cam.detector for cam in config.cameras}
    for cam_id, section in sections.items():
        key = (section.kind, section.provider, *detector_kind(section.kind).share_key(section))
        groups.setdefault(key, []).append(cam_id)
    path = model_path(config, "person_detector")
    out: dict[str, tuple[Detector, DetectorKind]] = {}
    for cam_ids in groups.values():
        section = sections[cam_ids[0]]
        spec = detector_kind(section.kind)
        shared = spec.build(section, path, min(thresholds[c] for c in cam_ids), None)
        out.update({c: (shared, spec) for c in cam_ids})
    return out


def _sqlite(config: CrowdsafeConfig) -> Store:
    from crowdsafe.store.sqlite import SQLiteStore

    assert isinstance(config.storage, SqliteStorageConfig)
    return SQLiteStore(config.resolve(config.storage.path))


def _postgresql(config: CrowdsafeConfig) -> Store:
    section = config.storage
    assert isinstance(section, PostgresStorageConfig)
    try:
        from crowdsafe.store.postgres import PostgresStore
    except ImportError as exc:  # psycopg is an optional extra
        raise ConfigError(
            "storage.backend: postgresql needs psycopg: pip install 'crowdsafe[postgresql]'"
        ) from exc
    return PostgresStore(
        section.dsn,
        pool_max=section.pool_max,
        connect_timeout_s=section.connect_timeout_s,
        notify=section.notify,
    )


STORE_BACKENDS: dict[str, Callable[[CrowdsafeConfig], Store]] = {
    "sqlite": _sqlite,
    "postgresql": _postgresql,
}


def store_location(config: CrowdsafeConfig) -> str:
    """Where the configured store keeps its data, for the start-up message (a server's
    address and database, never its password)."""
    if isinstance(config.storage, PostgresStorageConfig):
        from crowdsafe.store.postgres import describe_dsn

        return describe_dsn(config.storage.dsn)
    return str(config.resolve(config.storage.path))


def build_store(config: CrowdsafeConfig) -> Store:
    """The store ``storage.backend`` names, opened (raises StoreError when it cannot be)."""
    backend = config.storage.backend
    builder = STORE_BACKENDS.get(backend)
    if builder is None:
        known = ", ".join(sorted(STORE_BACKENDS))
        raise ConfigError(f"storage.backend: unknown backend '{backend}'; the backends are {known}")
    return builder(config)


def build_density_model(config: CrowdsafeConfig) -> DensityCounter:
    """The density-map counter (the shipped model unless ``models.density_counter``)."""
    return DensityCounter(model_path(config, "density_counter"))


def build_anonymiser(config: CrowdsafeConfig, *, faces: bool | None = None) -> Anonymiser:
    """The anonymiser every outgoing pixel passes: head zones of the people found, plus
    faces found by the face model unless ``privacy.face_blur`` is off (``faces``
    overrides the config, for tools that must always look for faces).

    The face model runs on one thread: the live view runs it on a low-priority worker
    (``livecache.py``), and ONNX Runtime's extra threads would run at normal priority,
    taking cores from the analysis that the low priority is meant to leave them to."""
    use_faces = config.privacy.face_blur if faces is None else faces
    if not use_faces:
        return Anonymiser(None)
    return Anonymiser(FaceFinder(model_path(config, "face_blur"), threads=1))
