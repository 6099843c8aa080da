"""Camera registration throughput and ONVIF probe latency.

    .venv/bin/python bench/import.py [--cameras 1000] [--probes 20]

1. Bulk YAML import: N generated cameras (full 一机一档 catalog, one rule each, 20 synthetic villages) imported
   by ``CameraService.import_yaml`` (one transaction) into a fresh SQLite database, then re-imported unchanged, then
   exported; the naive baseline is the same cameras registered one by one through ``CameraService.register``
   (the API/CLI path, one transaction each). The export must equal the import's own export byte for byte.
2. Probe latency: ``registry.onvif.probe`` against a real ipycam device on loopback (digest auth, 2 profiles):
   the first (cold: WSDL parse) and the median/p95 of the following probes.

Prints the machine, a table and the bulk/baseline ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (torch,
# urllib3 and redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml
from pydantic import SecretStr

from registry.config import CameraConfig
from registry.onvif import ProbeTarget, probe
from registry.service import CameraSpec
from tests.support.onvif_camera import IpycamDevice
from tests.support.registry import make_camera_service

TOWNSHIPS = ["140429100", "140429101", "140429102", "140429103"]


def generate(n: int) -> dict[str, Any]:
    villages = [{"code": f"{TOWNSHIPS[v % 4]}{900 + v:03d}", "name": f"基准村{v}（合成）",
                 "parent": TOWNSHIPS[v % 4], "synthetic": True} for v in range(20)]
    cams = []
    for i in range(1, n + 1):
        v = villages[i % 20]
        heading = (i * 37) % 360
        cams.append({
            "id": f"14042900001325{i:06d}", "name": f"基准摄像机 {i}", "jurisdiction": v["code"],
            "stream": f"rtsp://10.{i // 250}.{i % 250}.1:554/Streaming/Channels/101",
            "onvif": {"host": f"10.{i // 250}.{i % 250}.1", "port": 80, "profile": "Profile_1"},
            "manufacturer": "Hikvision", "model": "DS-2CD3T47", "owner": "武乡县公安局",
            "address": f"武乡县 基准路 {i} 号",
            "position": {"longitude": 112.8 + i * 1e-4, "latitude": 36.8 + i * 1e-4},
            "heading_deg": float(heading), "fov_deg": 70.0, "range_m": 40.0, "ptz_type": 3, "position_type": 10,
            "room_type": 1, "use_type": 1, "direction": _direction(heading), "resolution": "1920x1080",
            "rules": [{"type": "zone_intrusion", "name": "禁入", "zone": [[0, 0.5], [1, 0.5], [1, 1], [0, 1]]}],
        })
    return {"jurisdictions": villages, "cameras": cams}


def _direction(heading: float) -> int:
    from registry.catalog import direction_for_heading

    return direction_for_heading(heading)


def bench_import(n: int, tmp: Path) -> list[tuple[str, float, float]]:
    doc = generate(n)
    src = tmp / "cameras.yaml"
    src.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    rows = []

    svc = make_camera_service(tmp / "bulk")
    t = time.perf_counter()
    result = svc.import_yaml(src)
    bulk = time.perf_counter() - t
    assert len(result.added) == n
    rows.append(("YAML import (one transaction)", bulk, n / bulk))
    t = time.perf_counter()
    again = svc.import_yaml(src)
    secs = time.perf_counter() - t
    rows.append(("YAML re-import, all unchanged", secs, n / secs))
    assert len(again.unchanged) == n
    t = time.perf_counter()
    text = svc.export_yaml()
    secs = time.perf_counter() - t
    rows.append(("YAML export", secs, n / secs))
    out = tmp / "export.yaml"
    out.write_text(text, encoding="utf-8")
    svc2 = make_camera_service(tmp / "roundtrip")
    svc2.import_yaml(out)
    assert svc2.export_yaml() == text, "export → import → export is not byte-stable"
    report = svc.completeness()
    assert report.rate == 1.0, report.cameras[0]

    base = make_camera_service(tmp / "baseline")
    base.import_yaml(_only_jurisdictions(doc, tmp))
    t = time.perf_counter()
    for cam in doc["cameras"]:
        cfg = CameraConfig.model_validate(cam)
        base.register(CameraSpec.model_validate(cfg.model_dump(exclude={"onvif"}) | {"onvif": cam["onvif"],
                                                                                    "probe": False}), via="bench")
    naive = time.perf_counter() - t
    rows.insert(0, ("baseline: register one by one", naive, n / naive))
    return rows


def _only_jurisdictions(doc: dict[str, Any], tmp: Path) -> Path:
    p = tmp / "jurisdictions.yaml"
    p.write_text(yaml.safe_dump({"jurisdictions": doc["jurisdictions"]}, allow_unicode=True), encoding="utf-8")
    return p


def bench_probe(n: int) -> tuple[float, list[float]]:
    with IpycamDevice() as dev:
        target = ProbeTarget(host=dev.host, port=dev.onvif_port, username=dev.username,
                             password=SecretStr(dev.password))
        t = time.perf_counter()
        probe(target)
        cold = time.perf_counter() - t
        warm = []
        for _ in range(n):
            t = time.perf_counter()
            probe(target)
            warm.append(time.perf_counter() - t)
    return cold, warm


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cameras", type=int, default=1000)
    ap.add_argument("--probes", type=int, default=20)
    args = ap.parse_args()
    print(f"machine: {platform.node()} {platform.machine()} {os.cpu_count()} CPU(s), Python "
          f"{platform.python_version()}, SQLite (WAL) on {tempfile.gettempdir()}")
    with tempfile.TemporaryDirectory() as d:
        rows = bench_import(args.cameras, Path(d))
    print(f"\n{args.cameras} cameras")
    print(f"{'operation':<34} {'seconds':>8} {'cameras/s':>10}")
    for name, secs, rate in rows:
        print(f"{name:<34} {secs:>8.2f} {rate:>10.0f}")
    print(f"bulk import / baseline speed-up: {rows[1][2] / rows[0][2]:.1f}x; export → import → export byte-stable")
    cold, warm = bench_probe(args.probes)
    warm_ms = sorted(x * 1000 for x in warm)
    p95 = warm_ms[max(0, round(0.95 * len(warm_ms)) - 1)]
    print("\nONVIF probe against ipycam on loopback (10 SOAP requests: 6 device/media calls + stream and snapshot")
    print(f"URIs of 2 profiles): first {cold * 1000:.0f} ms "
          f"(WSDL parse), then median {statistics.median(warm_ms):.0f} ms, p95 {p95:.0f} ms over {len(warm)}")


if __name__ == "__main__":
    main()
