"""Detector capacity and accuracy on real vtest frames: PyTorch at 640 (the baseline and the teacher) against the
OpenVINO configurations the hub can run — FP32 / INT8, sync / async, 640 / 320, whole frames / motion regions.

    .venv/bin/python bench/detect.py [--quick] [--frames 40] [--rounds 3] [--sizes 640 320] [--device cpu|cuda:0]

The reference set is ``--frames`` frames of vtest one second apart (every 10th frame from the first; the INT8
calibration frames are others: analytics/calibration.py). The teacher, PyTorch FP32 at 640, labels them; every
configuration's persons are matched to the teacher's at IoU ≥ 0.5 (analytics/accuracy.py) for recall and
precision. Throughput: the frames are fed in chunks of ``--batch`` (the analytics worker hands the detector one
frame per camera with a frame waiting, up to 8), every configuration once per round, round-robin over
``--rounds`` rounds, and the median round counts (the machine is shared: interleaving spreads the noise over all
rows alike). The gated rows run the frames as cameras do (``run_cameras``): ``batch`` cameras, camera k seeing
vtest from the (5k)-th frame on, each through its own motion gate, the frames passed in one second detected in
one call, optionally on their motion regions (``gate+regions``: a whole-frame pass every ``force_every_s``);
their recall counts every camera's every frame, a skipped frame with its camera's last detections. Then a scene
with local motion (the same frames, people only in a band, the rest vtest's median background), one camera:
every frame whole, through the motion gate, and gate + motion regions (analytics/motion.py). The area column is
the mean share of the frame the motion regions cover per frame (0 for a skipped frame; the windows the detector
cuts are a little larger: rounded to its grid).
Exports and INT8 quantisations missing are made first (offline).

Ratios are against PyTorch 640 batch 1 and against the faster of OpenVINO FP32 640 sync at batch 1 and at the
batch (the previous default path, through ultralytics' predictor, is listed too). On a CPU with AVX512-BF16 or AMX
OpenVINO computes FP32 weights in bf16 by default (the header says what the CPU executes); the row "f32
execution" (``detector.execution: f32``) is FP32 computed in 32 bits, and a line before the last gives the best
configuration against it. The last line names the fastest
configuration that keeps recall ≥ 0.95 against the teacher; the line "network alone" before it, INT8 and FP32
with no pre- or post-processing (INT8 alone against the FP32 baseline: no whole-frame row passes it beyond noise).
``--quick``: 16 frames, 1 round, 640 only.
With ``--device cuda:0`` (a GPU machine): PyTorch at batch 1/8/16/32 on the GPU, no OpenVINO rows.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

# run as a script, sys.path[0] is bench/, where bench/queue.py would shadow the stdlib's queue module (torch,
# urllib3 and redis-py import it): replace that entry by the project root
sys.path.pop(0)
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from analytics.accuracy import MAX_RECALL_LOSS, Agreement, total_agreement
from analytics.calibration import video_frames
from analytics.detections import Detections
from analytics.detector import Detector, artifacts, export_model
from analytics.motion import MotionGate, Regions, regions_area
from analytics.openvino_engine import letterbox, model_xml, with_preprocessing
from ingest.demo import VTEST_AVI
from sharpeyes.settings import DetectorSettings, MotionSettings, Settings
from tests.support.old_detector import UltralyticsOpenVino


@dataclass
class Config:
    name: str
    settings: DetectorSettings
    batch: int
    regions: bool = False  # gated: detect only the motion region (analytics/motion.py)
    gated: bool = False  # through the motion gate: skipped frames keep the last detections
    detector: Detector | UltralyticsOpenVino | None = None
    rates: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)
    found: list[Detections] = field(default_factory=list)
    index: list[int] = field(default_factory=list)  # which reference frame each of found is
    area: float = 1.0
    legacy: bool = False  # the previous path: ultralytics' predictor on the OpenVINO export

    @property
    def fps(self) -> float:
        return statistics.median(self.rates)


def run_once(cfg: Config, frames: list[np.ndarray]) -> None:
    det = cfg.detector
    assert det is not None
    if cfg.gated:
        run_cameras(cfg, frames)
        return
    found: list[Detections] = []
    per_image: list[float] = []
    t_all = time.perf_counter()
    for i in range(0, len(frames), cfg.batch):
        chunk = frames[i:i + cfg.batch]
        t0 = time.perf_counter()
        found.extend(det.detect_batch(chunk))
        per_image.append((time.perf_counter() - t0) / len(chunk))
    cfg.rates.append(len(frames) / (time.perf_counter() - t_all))
    cfg.ms.append(statistics.median(per_image) * 1000)
    cfg.found = found
    cfg.index = list(range(len(frames)))


def run_cameras(cfg: Config, frames: list[np.ndarray]) -> None:
    """As the pipeline: ``cfg.batch`` cameras, camera k seeing the frames from the (5k)-th on (wrapping round), one
    second apart, each through its own motion gate; each second the frames its gate passed are detected in one
    call (with their motion regions when ``cfg.regions``); a frame the gate skips keeps that camera's last
    detections. ``found`` holds every camera's every frame, ``index`` which frame each is."""
    det = cfg.detector
    assert det is not None
    n = len(frames)
    gates = [MotionGate(MotionSettings(regions=cfg.regions)) for _ in range(cfg.batch)]  # type: ignore[call-arg]
    last: list[Detections | None] = [None] * cfg.batch
    found: list[Detections] = []
    index: list[int] = []
    areas: list[float] = []
    per_image: list[float] = []
    t_all = time.perf_counter()
    for t in range(n):
        images: list[np.ndarray] = []
        regions: list[Regions | None] = []
        cams: list[int] = []
        for k, gate in enumerate(gates):
            frame = frames[(t + 5 * k) % n]
            decision = gate.decide(frame, float(t))
            if not decision.detect and last[k] is not None:
                areas.append(0.0)
                continue
            h, w = frame.shape[:2]
            previous = last[k]
            boxes = previous.xyxy if previous is not None else np.zeros((0, 4), np.float32)
            region = gate.regions(decision, boxes, w, h, float(t))
            areas.append(regions_area(region, w, h))
            images.append(frame)
            regions.append(region)
            cams.append(k)
        t0 = time.perf_counter()
        for k, dets in zip(cams, det.detect_batch(images, regions) if images else [], strict=True):
            last[k] = dets
        if images:
            per_image.append((time.perf_counter() - t0) / len(images))
        for k in range(cfg.batch):
            dets_k = last[k]
            assert dets_k is not None
            found.append(dets_k)
            index.append((t + 5 * k) % n)
    cfg.rates.append(len(found) / (time.perf_counter() - t_all))
    cfg.ms.append(statistics.median(per_image) * 1000 if per_image else 0.0)
    cfg.found, cfg.index = found, index
    cfg.area = statistics.fmean(areas)


def build_configs(base: DetectorSettings, sizes: list[int], batch: int, quick: bool, gpu: bool) -> list[Config]:
    def ds(**kw: object) -> DetectorSettings:
        return base.model_copy(update=kw)

    if gpu:
        return [Config(f"pytorch {base.device}", ds(backend="pytorch", imgsz=sizes[0]), b) for b in (1, 8, 16, 32)]
    out = [Config("pytorch", ds(backend="pytorch", imgsz=sizes[0]), 1)]
    for size in sizes:
        def ov(precision: str, mode: str, size: int = size) -> DetectorSettings:
            return ds(backend="openvino", imgsz=size, precision=precision, mode=mode)

        out += [
            Config("openvino fp32 sync", ov("fp32", "sync"), 1),
            Config("openvino fp32 sync", ov("fp32", "sync"), batch),
            Config("openvino fp32 async", ov("fp32", "async"), batch),
            Config("openvino int8 sync", ov("int8", "sync"), 1),
            Config("openvino int8 sync", ov("int8", "sync"), batch),
            Config("openvino int8 async", ov("int8", "async"), batch),
        ]
        if size == sizes[0]:
            out.insert(1, Config("ultralytics openvino fp32 (old path)",
                                 ds(backend="pytorch", imgsz=size), batch, legacy=True))
            # FP32 weights computed in f32: what "FP32" means where the CPU has no bf16 (OpenVINO's default on
            # AVX512-BF16/AMX CPUs is bf16 execution, the rows above)
            f32 = ds(backend="openvino", imgsz=size, precision="fp32", mode="sync", execution="f32")
            out.append(Config("openvino fp32 sync, f32 execution", f32, batch))
            # vtest as cameras see it, frames one second apart in order (run_cameras): through the motion gate, and
            # gate + motion regions (each frame detected on what moved and what was found last, a whole-frame pass
            # every force_every_s); 8 cameras batched as the analytics worker does, or one alone
            out += [Config("openvino int8 auto gate", ov("int8", "auto"), batch, gated=True),
                    Config("openvino int8 sync gate+regions", ov("int8", "sync"), 1, gated=True, regions=True),
                    Config("openvino int8 auto gate+regions", ov("int8", "auto"), batch, gated=True, regions=True)]
        if quick:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--sizes", type=int, nargs="+", default=[640, 320])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--quick", action="store_true", help="16 frames, 1 round, 640 only")
    args = ap.parse_args()
    if args.quick:
        args.frames, args.rounds, args.sizes = min(args.frames, 16), 1, args.sizes[:1]
    settings = Settings()  # type: ignore[call-arg]
    base = settings.detector.model_copy(update={"device": args.device})
    gpu = args.device.startswith("cuda")
    frames = video_frames(VTEST_AVI, args.frames, step=10)
    import torch

    gpu_name = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, GPU {gpu_name}, torch "
          f"{torch.__version__}; {len(frames)} vtest frames 768x576, {args.rounds} round(s) "
          f"(load average {os.getloadavg()[0]:.1f})", flush=True)
    if not gpu:
        for size in args.sizes:
            export_model(base.model_copy(update={"imgsz": size}), settings.model_dir, ["openvino"], int8=True)
    configs = build_configs(base, args.sizes, args.batch, args.quick, gpu)
    for cfg in configs:
        cfg.detector = (UltralyticsOpenVino(cfg.settings, settings.model_dir) if cfg.legacy
                        else Detector(cfg.settings, settings.model_dir))
        run_once(cfg, frames[:3])  # warm-up
        cfg.rates.clear()
        cfg.ms.clear()
    for r in range(args.rounds):
        for cfg in configs:
            run_once(cfg, frames)
        print(f"  round {r + 1}/{args.rounds} done (load average {os.getloadavg()[0]:.1f})", flush=True)
    teacher = configs[0].found
    acc: dict[int, Agreement] = {id(c): total_agreement([teacher[j] for j in c.index], c.found) for c in configs}
    local = local_motion(configs[0], base, args, settings.model_dir, frames)
    base_fps = configs[0].fps
    ov_sync = [c for c in configs if c.name == "openvino fp32 sync" and c.settings.imgsz == args.sizes[0]]
    ov_fps = max((c.fps for c in ov_sync), default=float("nan"))

    executed = next((str(c.detector.describe()["execution"]) for c in ov_sync
                     if isinstance(c.detector, Detector)), "?")
    print(f"\nteacher and baseline: pytorch fp32 imgsz {args.sizes[0]} batch 1 on {args.device}; "
          f"OpenVINO FP32 {args.sizes[0]} sync = {ov_fps:.1f} img/s (the faster of batch 1 and {args.batch}; "
          f"the CPU executes it in {executed})")
    print(f"{'configuration':<38}{'imgsz':>6}{'batch':>6}{'area':>6}{'img/s':>8}{'ms/img':>8}{'recall':>8}"
          f"{'prec.':>7}{'vs PT':>8}{'vs OV':>7}")
    for c in configs:
        a = acc[id(c)]
        print(f"{c.name:<38}{c.settings.imgsz:>6}{c.batch:>6}{c.area:>6.2f}{c.fps:>8.1f}"
              f"{statistics.median(c.ms):>8.1f}{a.recall:>8.3f}{a.precision:>7.3f}{c.fps / base_fps:>7.2f}x"
              f"{c.fps / ov_fps:>6.2f}x")
    print(f"\nlocal motion: the same frames with people only in the left {BAND:.0%} of the view, the rest vtest's "
          "median background (a street where a few people pass), one camera's frames one second apart, in order; "
          "gated rows: a frame the gate skips keeps the last detections (what the rules see), area 0")
    print(f"{'configuration':<38}{'imgsz':>6}{'batch':>6}{'area':>6}{'img/s':>8}{'ms/img':>8}{'recall':>8}"
          f"{'prec.':>7}{'vs whole':>9}")
    whole = local[0]
    for c, a in local:
        print(f"{c.name:<38}{c.settings.imgsz:>6}{c.batch:>6}{c.area:>6.2f}{c.fps:>8.1f}"
              f"{statistics.median(c.ms):>8.1f}{a.recall:>8.3f}{a.precision:>7.3f}{c.fps / whole[0].fps:>8.2f}x")
    keep: Callable[[Config], bool] = lambda c: acc[id(c)].recall >= 1 - MAX_RECALL_LOSS  # noqa: E731
    best = max((c for c in configs if keep(c)), key=lambda c: c.fps)
    label = f"{best.name.replace(' ', '-')}-{best.settings.imgsz}-b{best.batch}"
    if not gpu:
        network_ceiling(base.model_copy(update={"imgsz": args.sizes[0]}), settings.model_dir, frames, args.rounds,
                        ov_fps)
    f32 = [c for c in configs if c.settings.execution == "f32"]
    if f32 and executed != "f32":
        print(f"against FP32 executed in f32 ({f32[0].fps:.1f} img/s): {best.fps / f32[0].fps:.2f} x")
    print(f"detect: best {label} {best.fps:.1f} img/s = {best.fps / base_fps:.2f} x PyTorch {args.sizes[0]}, "
          f"{best.fps / ov_fps:.2f} x OpenVINO FP32 {args.sizes[0]}, recall {acc[id(best)].recall:.3f}")
    return 0


BAND = 0.4


def network_ceiling(settings: DetectorSettings, model_dir: Path, frames: list[np.ndarray], rounds: int,
                    ov_fps: float) -> None:
    """The network alone, INT8 against FP32 as the CPU executes it: letterboxed frames made beforehand, the
    THROUGHPUT hint's requests in flight, outputs not decoded (each round alternates the two; the best round
    counts). Their ratio is what INT8 itself gives on this CPU; INT8 alone against the FP32 baseline row
    (``ov_fps``, with its pre- and post-processing) bounds the S of the last line: a whole-frame configuration
    comes near it, not past it beyond the noise of a run."""
    import openvino as ov

    core = ov.Core()
    images = [letterbox(f, settings.imgsz).image[None] for f in frames]
    found = artifacts(settings, model_dir)
    rates: dict[str, float] = {}
    queues = {}
    for name in ("openvino-int8", "openvino"):
        model = with_preprocessing(core.read_model(model_xml(found[name])))
        compiled = core.compile_model(model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})
        queues[name] = ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
    for _ in range(max(rounds, 2)):
        for name, queue in queues.items():
            t0 = time.perf_counter()
            for x in images:
                queue.start_async({0: x})
            queue.wait_all()
            rates[name] = max(rates.get(name, 0.0), len(images) / (time.perf_counter() - t0))
    int8 = rates["openvino-int8"]
    print(f"network alone (no letterbox, no decoding), async: INT8 {int8:.1f} img/s, FP32 as executed "
          f"{rates['openvino']:.1f} img/s: {int8 / rates['openvino']:.2f} x; INT8 alone = {int8 / ov_fps:.2f} x the "
          f"OpenVINO FP32 baseline, about the most a whole-frame configuration can reach on this CPU")


def local_motion(teacher_cfg: Config, base: DetectorSettings, args: argparse.Namespace, model_dir: Path,
                 frames: list[np.ndarray]) -> list[tuple[Config, Agreement]]:
    """INT8 whole frames vs INT8 motion regions on a scene with local motion, each against the teacher there."""
    background = np.median(np.stack(frames), axis=0).astype(np.uint8)
    cut = int(BAND * frames[0].shape[1])
    scene = []
    for f in frames:
        g = background.copy()
        g[:, :cut] = f[:, :cut]
        scene.append(g)
    assert teacher_cfg.detector is not None
    teacher = [teacher_cfg.detector.detect(f) for f in scene]
    ds = base.model_copy(update={"backend": "openvino", "imgsz": args.sizes[0], "precision": "int8", "mode": "auto"})
    det = Detector(ds, model_dir)
    out = []
    for cfg in (Config("openvino int8, every frame whole", ds, 1, detector=det),
                Config("openvino int8, motion gate", ds, 1, gated=True, detector=det),
                Config("openvino int8, gate + motion regions", ds, 1, gated=True, regions=True, detector=det)):
        run_once(cfg, scene[:3])
        cfg.rates.clear()
        cfg.ms.clear()
        for _ in range(args.rounds):
            run_once(cfg, scene)
        out.append((cfg, total_agreement(teacher, cfg.found)))
    return out


if __name__ == "__main__":
    sys.exit(main())
