"""Detector throughput on real vtest frames: PyTorch predict at 640, batch 1 (the baseline) vs the exported
backends, batch 1 vs batch 8 (frames of 8 cameras detected together, as the analytics worker does), 640 vs 320.

    .venv/bin/python bench/detect.py [--quick] [--frames 40] [--sizes 640 320] [--batch 8] [--device cpu|cuda:0]

Prints the machine, a table of images/s and ms/image, and each row's ratio against the baseline measured in
the same run. Exports missing models first (offline). The exports have a dynamic input shape, so they take
batches too. ``--quick``: 16 frames, PyTorch and OpenVINO only.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (torch,
# urllib3 and redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from analytics.detector import Detector, export_model
from ingest.demo import VTEST_AVI
from sharpeyes.settings import Settings


def load_frames(n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(VTEST_AVI))
    frames = []
    step = 10  # one frame a second of footage: varied scenes
    i = 0
    while len(frames) < n:
        ok, frame = cap.read()
        if not ok:
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            continue
        if i % step == 0:
            frames.append(frame)
        i += 1
    cap.release()
    return frames


def run(det: Detector, frames: list[np.ndarray], batch: int) -> tuple[float, float, int]:
    for f in frames[:3]:
        det.detect(f)  # warm-up
    per_image: list[float] = []
    persons = 0
    t_all = time.perf_counter()
    for i in range(0, len(frames), batch):
        chunk = frames[i:i + batch]
        t0 = time.perf_counter()
        results = det.detect_batch(chunk) if batch > 1 else [det.detect(chunk[0])]
        per_image.append((time.perf_counter() - t0) / len(chunk))
        persons += sum(len(r) for r in results)
    total = time.perf_counter() - t_all
    return len(frames) / total, statistics.median(per_image) * 1000, persons


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="16 frames, PyTorch and OpenVINO only")
    args = ap.parse_args()
    if args.quick:
        args.frames = min(args.frames, 16)

    settings = Settings()  # type: ignore[call-arg]
    frames = load_frames(args.frames)
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, GPU {gpu}, "
          f"torch {torch.__version__}, {len(frames)} vtest frames 768x576 (load average {os.getloadavg()[0]:.1f})")
    rows: list[tuple[str, int, int, float, float, int]] = []
    for size in args.sizes:
        ds = settings.detector.model_copy(update={"imgsz": size, "device": args.device})
        fmts = [] if args.device.startswith("cuda") else ["openvino"] if args.quick else ["openvino", "onnx"]
        export_model(ds, settings.model_dir, fmts)
        backends = ["pytorch", *fmts]
        for backend in backends:
            det = Detector(ds.model_copy(update={"backend": backend}), settings.model_dir)
            for batch in sorted({1, args.batch}):
                fps, ms, persons = run(det, frames, batch)
                rows.append((backend, size, batch, fps, ms, persons))
                print(f"  {backend} {size} batch {batch}: {fps:.1f} img/s", flush=True)
    base = next(r for r in rows if r[0] == "pytorch" and r[1] == args.sizes[0] and r[2] == 1)
    print(f"\nbaseline: pytorch predict, imgsz {base[1]}, batch 1, device {args.device}")
    print(f"{'backend':<10}{'imgsz':>6}{'batch':>6}{'img/s':>9}{'ms/img':>9}{'persons':>9}{'vs base':>9}")
    for backend, size, batch, fps, ms, persons in rows:
        print(f"{backend:<10}{size:>6}{batch:>6}{fps:>9.1f}{ms:>9.1f}{persons:>9}{fps / base[3]:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
