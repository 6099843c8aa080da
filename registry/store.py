"""Registry database access: engine, schema (migrated by ``sharpeyes.migrate``), jurisdiction seed, YAML sync
(jurisdictions, cameras, key points), the availability and quality ledgers, and the queries downstream needs.
The same on SQLite and PostgreSQL; hubs of several machines seed and sync one at a time (an advisory lock)."""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from registry.config import CameraConfig, KeyPointConfig, load_camera_configs
from registry.models import AvailabilityRecord, Camera, CameraCredential, Jurisdiction, KeyPoint, QualityRecord
from sharpeyes.connections import advisory_lock, make_engine
from sharpeyes.migrate import upgrade

log = logging.getLogger(__name__)

SEED_FILE = "jurisdictions-140429.csv"
# Levels seeded from the CSV that host a comprehensive-governance center.
CENTER_LEVELS = frozenset({"county", "township"})
SYNC_LOCK = "sharpeyes:registry-sync"
"""Advisory lock (PostgreSQL) held while the jurisdiction seed or the camera configs are written."""


class Registry:
    """Owns the registry's SQL database. Thread-safe: every call opens its own session."""

    def __init__(self, database_url: str) -> None:
        self.engine = make_engine(database_url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def init(self) -> None:
        """Migrate the database to this release's schema (every table of the hub: ``sharpeyes.migrate``; a
        database made before migrations is adopted in place) and seed the jurisdiction tree."""
        upgrade(self.engine)
        self.seed_jurisdictions()

    def close(self) -> None:
        self.engine.dispose()

    # ---------------------------------------------------------------------------------------- jurisdictions
    def seed_jurisdictions(self) -> int:
        """Insert the real county/township codes shipped in ``registry/data`` (idempotent)."""
        ref = resources.files("registry") / "data" / SEED_FILE
        rows = list(csv.DictReader(ref.read_text(encoding="utf-8").splitlines()))
        added = 0
        with self.sessions.begin() as s:
            advisory_lock(s, SYNC_LOCK)  # hubs starting together on several machines seed one after the other
            existing = set(s.scalars(select(Jurisdiction.code)))
            for row in rows:  # parents come before children in the file
                if row["code"] in existing:
                    continue
                s.add(
                    Jurisdiction(
                        code=row["code"],
                        name=row["name"],
                        level=row["level"],
                        parent_code=row["parent_code"] or None,
                        has_center=row["level"] in CENTER_LEVELS,
                        synthetic=False,
                        source=row["source"],
                    )
                )
                s.flush()
                added += 1
        return added

    def jurisdiction_codes(self) -> set[str]:
        with self.sessions() as s:
            return set(s.scalars(select(Jurisdiction.code)))

    def jurisdiction_path(self, code: str) -> list[Jurisdiction]:
        """Nodes from the county down to ``code`` (province and city above the county are left out)."""
        with self.sessions() as s:
            path: list[Jurisdiction] = []
            node = s.get(Jurisdiction, code)
            while node is not None:
                path.append(node)
                if node.level == "county":
                    break
                node = s.get(Jurisdiction, node.parent_code) if node.parent_code else None
            return list(reversed(path))

    def centers(self) -> list[Jurisdiction]:
        with self.sessions() as s:
            return list(s.scalars(select(Jurisdiction).where(Jurisdiction.has_center).order_by(Jurisdiction.code)))

    def get_jurisdiction(self, code: str) -> Jurisdiction | None:
        with self.sessions() as s:
            return s.get(Jurisdiction, code)

    # ---------------------------------------------------------------------------------------- cameras
    def camera_fingerprints(self) -> dict[str, tuple[datetime, datetime | None]]:
        """Enabled cameras → (their record's last change, their credentials' last change or None): what, when
        changed, requires a restart of the camera's ingest and analytics."""
        with self.sessions() as session:
            rows = session.execute(
                select(Camera.id, Camera.updated_at, CameraCredential.updated_at)
                .outerjoin(CameraCredential, CameraCredential.camera_id == Camera.id)
                .where(Camera.enabled.is_(True))
            )
            return {cid: (cam_at, cred_at) for cid, cam_at, cred_at in rows}

    def camera_pins(self) -> dict[str, str | None]:
        """Enabled cameras → the node label each is pinned to (None: any node), for the lease assigner
        (:meth:`sharpeyes.leases.Assigner.step`)."""
        with self.sessions() as session:
            rows = session.execute(select(Camera.id, Camera.node_label).where(Camera.enabled.is_(True)))
            return {cid: label for cid, label in rows}

    def sync_camera_configs(self, directory: Path) -> list[str]:
        """Load ``directory``'s YAML and make the DB match it for YAML-sourced cameras.

        Key points (重点公共区域) of the files are made to match the same way: added or changed, and those from a
        file that no longer declare them removed. Raises :class:`registry.config.CameraConfigError` (nothing
        written) when any file is invalid. Returns the ids of the cameras defined by the files.
        """
        loaded = load_camera_configs(directory, self.jurisdiction_codes())
        with self.sessions.begin() as s:
            advisory_lock(s, SYNC_LOCK)  # merge() reads then writes: two hubs syncing at once would collide
            for path, j in loaded.jurisdictions:
                node = s.get(Jurisdiction, j.code) or Jurisdiction(code=j.code)
                node.name, node.level, node.parent_code = j.name, j.level, j.parent
                node.has_center, node.synthetic, node.source = j.center, j.synthetic, path.name
                s.merge(node)
            s.flush()
            ids = []
            for path, cfg in loaded.cameras:
                s.merge(camera_from_config(cfg, source_file=str(path.name)))
                ids.append(cfg.id)
            stale = s.scalars(select(Camera).where(Camera.source_file.is_not(None), Camera.id.not_in(ids)))
            for cam in stale:
                log.info("camera %s no longer in %s: removed", cam.id, cam.source_file)
                s.delete(cam)
            point_ids = []
            for path, kp in loaded.key_points:
                s.merge(key_point_from_config(kp, source_file=path.name))
                point_ids.append(kp.id)
            stale_points = s.scalars(select(KeyPoint).where(KeyPoint.source_file.is_not(None),
                                                            KeyPoint.id.not_in(point_ids)))
            for point in stale_points:
                log.info("key point %s no longer in %s: removed", point.id, point.source_file)
                s.delete(point)
        log.info("registry: %d camera(s), %d key point(s) from %s", len(ids), len(point_ids), directory)
        return ids

    def upsert_camera(self, cfg: CameraConfig, source_file: str | None = None) -> None:
        if cfg.jurisdiction not in self.jurisdiction_codes():
            raise ValueError(f"unknown jurisdiction {cfg.jurisdiction}")
        with self.sessions.begin() as s:
            s.merge(camera_from_config(cfg, source_file=source_file))

    def cameras(self, *, enabled_only: bool = False) -> list[Camera]:
        with self.sessions() as s:
            q = select(Camera).order_by(Camera.id)
            if enabled_only:
                q = q.where(Camera.enabled)
            return list(s.scalars(q))

    def get_camera(self, camera_id: str) -> Camera | None:
        with self.sessions() as s:
            return s.get(Camera, camera_id)

    def record_availability(self, camera_id: str, state: str, reason: str = "") -> None:
        with self.sessions.begin() as s:
            s.add(AvailabilityRecord(camera_id=camera_id, state=state, reason=reason))

    def record_quality(self, camera_id: str, ok: bool, faults: str = "") -> None:
        """Append a change of the camera's video-quality diagnosis to the quality ledger (完好率). ``faults`` is
        the comma-separated list of active faults ("" when ok)."""
        with self.sessions.begin() as s:
            s.add(QualityRecord(camera_id=camera_id, ok=ok, faults=faults[:300]))

    # ---------------------------------------------------------------------------------------- key points
    def key_points(self) -> list[KeyPoint]:
        """Key public areas (重点公共区域), by id."""
        with self.sessions() as s:
            return list(s.scalars(select(KeyPoint).order_by(KeyPoint.id)))


def camera_from_config(cfg: CameraConfig, source_file: str | None) -> Camera:
    return Camera(
        id=cfg.id,
        name=cfg.name,
        jurisdiction_code=cfg.jurisdiction,
        stream_url=cfg.stream,
        longitude=cfg.position.longitude if cfg.position else None,
        latitude=cfg.position.latitude if cfg.position else None,
        heading_deg=cfg.heading_deg,
        fov_deg=cfg.fov_deg,
        range_m=cfg.range_m,
        sample_mode=cfg.sampling.mode,
        sample_fps=cfg.sampling.fps,
        rules=[r.model_dump(mode="json") for r in cfg.rules],
        privacy_masks=[m.model_dump() for m in cfg.privacy_masks],
        detector_model=cfg.detector_model,
        node_label=cfg.node_label,
        motion_regions=cfg.motion_regions,
        enabled=cfg.enabled,
        source_file=source_file,
        **{f: getattr(cfg, f) for f in CATALOG_COLUMNS},
        onvif_host=cfg.onvif.host if cfg.onvif else None,
        onvif_port=cfg.onvif.port if cfg.onvif else None,
        onvif_profile=cfg.onvif.profile if cfg.onvif else None,
        snapshot_url=cfg.snapshot,
    )


def key_point_from_config(cfg: KeyPointConfig, source_file: str | None) -> KeyPoint:
    return KeyPoint(id=cfg.id, name=cfg.name, kind=cfg.kind, jurisdiction_code=cfg.jurisdiction,
                    longitude=cfg.longitude, latitude=cfg.latitude, synthetic=cfg.synthetic, source_file=source_file)


CATALOG_COLUMNS = ("manufacturer", "model", "firmware", "serial_number", "owner", "address", "ptz_type",
                   "position_type", "room_type", "use_type", "direction", "resolution")
"""Catalog fields whose name is the same in :class:`CameraConfig` and the ``cameras`` table."""


def config_from_camera(cam: Camera) -> CameraConfig:
    """The YAML model of a stored camera (the inverse of :func:`camera_from_config`)."""
    data: dict[str, Any] = {
        "id": cam.id, "name": cam.name, "jurisdiction": cam.jurisdiction_code, "stream": cam.stream_url,
        "heading_deg": cam.heading_deg, "fov_deg": cam.fov_deg, "range_m": cam.range_m,
        "sampling": {"mode": cam.sample_mode, "fps": cam.sample_fps}, "rules": cam.rules, "enabled": cam.enabled,
        "privacy_masks": cam.privacy_masks or [], "snapshot": cam.snapshot_url, "detector_model": cam.detector_model,
        "node_label": cam.node_label, "motion_regions": cam.motion_regions,
        **{f: getattr(cam, f) for f in CATALOG_COLUMNS},
    }
    if cam.longitude is not None and cam.latitude is not None:
        data["position"] = {"longitude": cam.longitude, "latitude": cam.latitude}
    if cam.onvif_host:
        data["onvif"] = {"host": cam.onvif_host, "port": cam.onvif_port or 80, "profile": cam.onvif_profile}
    return CameraConfig.model_validate(data)


@dataclass(frozen=True)
class CameraPlace:
    """What downstream stages need to know about where a camera sits."""

    camera_id: str
    camera_name: str
    civil_codes: list[str]  # county → township → village


def camera_place(registry: Registry, cam: Camera) -> CameraPlace:
    path = registry.jurisdiction_path(cam.jurisdiction_code)
    return CameraPlace(cam.id, cam.name, [n.code for n in path])
