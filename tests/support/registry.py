"""Registries for tests: camera YAML snippets, a registry built from YAML, and a camera service over a fresh
database and vault.

Owns only the files it writes under the folder the caller gives (``tmp_path``); must not touch the shipped
``camera_configs/`` or the hub's data folder.
"""

from __future__ import annotations

from pathlib import Path

from registry.service import CameraService
from registry.store import Registry
from registry.vault import Vault

TWO_CAMERAS_YAML = """
jurisdictions:
  - {code: "140429100001", name: 合成社区, parent: "140429100", synthetic: true}
cameras:
  - id: "14042900001325000001"
    name: 校园路口
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:8554/vtest
    privacy_masks:
      - {name: 住宅窗户, polygon: [[0, 0], [0.3, 0], [0.3, 0.2]]}
  - id: "14042900001325000002"
    name: 村委会
    jurisdiction: "140429100001"
    stream: rtsp://127.0.0.1:8554/vtest2
    sampling: {mode: fps, fps: 2}
"""
"""Two cameras in a synthetic village: the first with a privacy mask and the default sampling, the second
sampled at 2 fps."""


def camera_yaml(camera_id: str, *, name: str = "c", jurisdiction: str = "140429100",
                stream: str = "rtsp://127.0.0.1:9/x") -> str:
    """A camera file declaring one camera in flow style (line 2 is the camera)."""
    return (f'cameras:\n  - {{id: "{camera_id}", name: {name}, jurisdiction: "{jurisdiction}", '
            f'stream: "{stream}"}}\n')


def write_configs(folder: Path, text: str, name: str = "cams.yaml") -> Path:
    """Write ``text`` as ``folder/name`` (creating ``folder``); return ``folder``, ready for
    ``Registry.sync_camera_configs``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    return folder


def registry_with_cameras(configs: Path | None = None, *, url: str = "sqlite://") -> Registry:
    """A :class:`Registry` at ``url`` (default: in memory), initialised (schema and seeded jurisdictions), with the
    camera configs folder ``configs`` synced into it when given. The caller closes it."""
    reg = Registry(url)
    reg.init()
    if configs is not None:
        reg.sync_camera_configs(configs)
    return reg


def make_camera_service(root: Path, *, probe_timeout_s: float = 5.0, url: str | None = None) -> CameraService:
    """A :class:`CameraService` over ``root/sharpeyes.db`` (or the database at ``url``) and the vault key
    ``root/vault.key`` (both created)."""
    root.mkdir(parents=True, exist_ok=True)
    reg = registry_with_cameras(url=url or f"sqlite:///{root / 'sharpeyes.db'}")
    return CameraService(reg, Vault.from_key_file(root / "vault.key"), probe_timeout_s=probe_timeout_s)
