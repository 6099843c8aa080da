"""OpenVINO inference without ultralytics' predictor: letterbox, infer (sync or N requests in flight), decode, NMS.

Owns the compiled OpenVINO model of one exported detector (FP32 or INT8 IR) and turns BGR frames into
:class:`~analytics.detections.Detections`, reproducing ultralytics' pre- and post-processing (minimum-rectangle
letterbox with grey 114 padding, class-wise NMS, boxes scaled back to the frame) so the boxes match what
``YOLO.predict`` returns for the same model. The compiled model takes the letterboxed BGR frame as it is (uint8,
HWC): the conversion to the network's float RGB CHW in [0, 1] is a preprocessing step of the graph
(:func:`with_preprocessing`), done by OpenVINO on its own threads beside the first layer, instead of a float
blob made in Python for every frame (3.6 ms of one core for a 640×480 frame, about a sixth of an INT8 inference).
Two modes:

- ``sync``: one inference request, frames of the same shape stacked into one batch (the LATENCY hint: one frame
  uses every core);
- ``async``: an :class:`openvino.AsyncInferQueue` with ``requests`` in flight (the THROUGHPUT hint: one CPU stream
  per request), so the letterbox of one frame and the decoding of another overlap inference on all cores;
- ``auto``: both compiled; a lone frame takes the sync request (lowest latency), several the async queue (most
  frames per second): a lone frame on one stream of the THROUGHPUT model would take about twice as long.

Also owns INT8 post-training quantisation of an FP32 IR with NNCF (:func:`quantize_int8`), calibrated on frames
the caller supplies (nothing is downloaded). Must not read settings files, Redis or SQL.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from analytics.detections import Detections
from analytics.labels import ModelLabels

log = logging.getLogger(__name__)

Mode = Literal["auto", "sync", "async"]
_PAD = 114
_MAX_WH = 7680.0  # class offset for batched NMS, as ultralytics
_MAX_DET = 300


@dataclass(frozen=True, slots=True)
class Letterboxed:
    """One frame prepared for the network: the letterboxed frame and how to map boxes back."""

    image: np.ndarray  # BGR uint8, H×W×3, H and W multiples of the stride: what the compiled model takes
    ratio: float  # network pixels per frame pixel
    left: int  # padding added on the left, network pixels
    top: int
    shape: tuple[int, int]  # (h, w) of the original frame


def letterbox(image: np.ndarray, size: int, stride: int = 32, ratio: float | None = None) -> Letterboxed:
    """Resize keeping the aspect ratio so the long side is ``size`` (or by ``ratio``: a crop at the scale of its
    whole frame) and pad to the smallest multiple of ``stride`` (ultralytics' ``LetterBox(auto=True)``); the
    frame stays BGR uint8 (:func:`network_input` gives the raw network's float input)."""
    h, w = image.shape[:2]
    r = min(size / h, size / w) if ratio is None else ratio
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    if ratio is None:
        dw, dh = (size - nw) % stride / 2, (size - nh) % stride / 2
    else:
        dw, dh = -nw % stride / 2, -nh % stride / 2
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if top or bottom or left or right:
        resized = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(_PAD,) * 3)
    return Letterboxed(np.ascontiguousarray(resized), r, left, top, (h, w))


def network_input(image: np.ndarray) -> np.ndarray:
    """A letterboxed BGR frame as the exported network itself takes it: 1×3×H×W float32 RGB in [0, 1] (what
    :func:`with_preprocessing` does inside the graph; NNCF calibrates the network without that step)."""
    blob: np.ndarray = cv2.dnn.blobFromImage(image, 1 / 255.0, swapRB=True)
    return blob


def with_preprocessing(model: Any) -> Any:
    """``model`` (an ``openvino.Model`` taking N×3×H×W float RGB in [0, 1]) taking N×H×W×3 uint8 BGR instead:
    convert, reverse the channels and multiply by 1/255 in the graph, what :func:`network_input` computes (a
    multiplication as blobFromImage's, not ``scale()``'s division). Executed in f32 the outputs equal the raw
    network's on that blob to float rounding; in bf16 execution (the CPU's default where it has bf16) the plugin
    rounds elsewhere, so boxes move by bf16 noise (a few pixels), as they do against f32 execution."""
    import openvino as ov
    import openvino.opset13 as ops
    from openvino.preprocess import PrePostProcessor

    ppp = PrePostProcessor(model)
    ppp.input().tensor().set_element_type(ov.Type.u8).set_layout(ov.Layout("NHWC"))
    ppp.input().model().set_layout(ov.Layout("NCHW"))
    inverse = ops.constant(np.array([1 / 255.0], np.float32))
    ppp.input().preprocess().convert_element_type(ov.Type.f32).reverse_channels().custom(
        lambda node: ops.multiply(node, inverse).output(0))
    return ppp.build()


def _to_frame(xyxy: np.ndarray, prep: Letterboxed) -> np.ndarray:
    """Boxes in network pixels → frame pixels, clipped to the frame."""
    xyxy = xyxy.copy()
    xyxy[:, [0, 2]] -= prep.left
    xyxy[:, [1, 3]] -= prep.top
    xyxy /= prep.ratio
    h, w = prep.shape
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return xyxy


def decode_end2end(output: np.ndarray, prep: Letterboxed, names: dict[int, str], labels: ModelLabels,
                   conf: float) -> Detections:
    """One image's output of an NMS-free model (YOLOv10, YOLO26: rows of x1, y1, x2, y2, score, class) →
    :class:`Detections` in frame pixels."""
    rows = output[output[:, 4] > conf]
    if not len(rows):
        return Detections(model_labels=labels)
    xyxy = _to_frame(rows[:, :4].astype(np.float32), prep)
    return Detections(xyxy, rows[:, 4].astype(np.float32), [names[int(c)] for c in rows[:, 5]], model_labels=labels)


def decode(output: np.ndarray, prep: Letterboxed, names: dict[int, str], labels: ModelLabels, conf: float,
           iou: float) -> Detections:
    """One image's raw YOLO output (``4 + classes`` × anchors: centre-x, centre-y, w, h, class scores) →
    :class:`Detections` in frame pixels after class-wise NMS. An NMS-free model's output (anchors × 6) goes to
    :func:`decode_end2end`."""
    if output.ndim == 2 and output.shape[1] == 6 and output.shape[0] != 4 + len(names):
        return decode_end2end(output, prep, names, labels, conf)
    scores_all = output[4:]
    cls = scores_all.argmax(0)
    scores = scores_all[cls, np.arange(scores_all.shape[1])]
    keep = scores > conf
    if not keep.any():
        return Detections(model_labels=labels)
    xywh, scores, cls = output[:4, keep].T, scores[keep], cls[keep]
    xyxy = np.empty_like(xywh)
    xyxy[:, :2] = xywh[:, :2] - xywh[:, 2:] / 2
    xyxy[:, 2:] = xywh[:, :2] + xywh[:, 2:] / 2
    offset = xyxy + (cls[:, None] * _MAX_WH)
    order = _nms(offset, scores, iou)[:_MAX_DET]
    xyxy, scores, cls = _to_frame(xyxy[order], prep), scores[order], cls[order]
    return Detections(xyxy.astype(np.float32), scores.astype(np.float32), [names[int(c)] for c in cls],
                      model_labels=labels)


def _nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, highest score first (torchvision's ``nms``: suppress IoU > ``iou``)."""
    order = scores.argsort()[::-1]
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    kept: list[int] = []
    while order.size:
        i = int(order[0])
        kept.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        ix1 = np.maximum(x1[i], x1[rest])
        iy1 = np.maximum(y1[i], y1[rest])
        ix2 = np.minimum(x2[i], x2[rest])
        iy2 = np.minimum(y2[i], y2[rest])
        inter = np.clip(ix2 - ix1, 0, None) * np.clip(iy2 - iy1, 0, None)
        overlap = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[overlap <= iou]
    return np.asarray(kept, dtype=np.int64)


def model_xml(directory: Path) -> Path:
    """The ``.xml`` of the OpenVINO IR in an export folder."""
    found = sorted(directory.glob("*.xml"))
    if not found:
        raise FileNotFoundError(f"no OpenVINO .xml in {directory}")
    return found[0]


def _type_name(value: Any) -> str:
    """An OpenVINO element type (``Type.bf16``) as its short name (``bf16``)."""
    name = getattr(value, "get_type_name", None)
    return str(name()) if callable(name) else str(value)


class OpenVinoEngine:
    """A compiled OpenVINO detector. :meth:`detect_batch` is thread-compatible, not thread-safe: one caller."""

    def __init__(self, directory: Path, *, imgsz: int, names: dict[int, str], labels: ModelLabels,
                 conf: float, iou: float, mode: Mode = "sync", requests: int = 2, device: str = "CPU",
                 execution: str = "auto") -> None:
        import openvino as ov

        self.imgsz, self.names, self.labels, self.conf, self.iou = imgsz, names, labels, conf, iou
        self.mode: Mode = mode
        core = ov.Core()
        model = core.read_model(model_xml(directory))
        self.precision = "int8" if _is_quantized(model) else "fp32"
        model = with_preprocessing(model)
        self._request: Any = None
        self._queue: Any = None
        self.requests = 1
        # 'f32': no bf16 execution on CPUs that have it (OpenVINO's default there); an INT8 model keeps its int8
        extra = {"INFERENCE_PRECISION_HINT": "f32"} if execution == "f32" else {}
        if mode in ("sync", "auto"):
            latency = core.compile_model(model, device, {"PERFORMANCE_HINT": "LATENCY", **extra})
            self._request = latency.create_infer_request()
            self.execution = _type_name(latency.get_property("INFERENCE_PRECISION_HINT"))
        if mode in ("async", "auto"):
            config = {"PERFORMANCE_HINT": "THROUGHPUT", **extra}
            if requests:
                config["PERFORMANCE_HINT_NUM_REQUESTS"] = str(requests)
            throughput = core.compile_model(model, device, config)
            self.execution = _type_name(throughput.get_property("INFERENCE_PRECISION_HINT"))
            self.requests = int(throughput.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
            self._queue = ov.AsyncInferQueue(throughput, self.requests)
        log.info("openvino engine: %s, %s weights executed in %s, %s, %d request(s) in flight", directory.name,
                 self.precision, self.execution, mode, self.requests)

    def detect_batch(self, images: Sequence[np.ndarray],
                     ratios: Sequence[float | None] | None = None) -> list[Detections]:
        """Detections of each image, in order; ``ratios[i]`` set: image ``i`` is scaled by it (a crop detected at
        the scale of its frame) instead of to the input size."""
        if not images:
            return []
        scale: list[float | None] = list(ratios) if ratios is not None else [None] * len(images)
        if self._queue is not None and (self._request is None or len(images) > 1):
            return self._detect_async(images, scale)
        preps = [letterbox(im, self.imgsz, ratio=r) for im, r in zip(images, scale, strict=True)]
        out: list[Detections | None] = [None] * len(preps)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, p in enumerate(preps):
            by_shape.setdefault(p.image.shape, []).append(i)
        for idx in by_shape.values():
            batch = np.stack([preps[i].image for i in idx])
            raw = self._request.infer({0: batch})[0]
            for j, i in enumerate(idx):
                out[i] = decode(raw[j], preps[i], self.names, self.labels, self.conf, self.iou)
        return [d for d in out if d is not None]

    def _detect_async(self, images: Sequence[np.ndarray], ratios: list[float | None]) -> list[Detections]:
        out: list[Detections | None] = [None] * len(images)
        preps: list[Letterboxed | None] = [None] * len(images)
        errors: list[BaseException] = []

        def done(request: Any, i: int) -> None:
            try:
                prep = preps[i]
                assert prep is not None
                out[i] = decode(request.get_output_tensor(0).data[0], prep, self.names, self.labels, self.conf,
                                self.iou)
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                errors.append(exc)

        self._queue.set_callback(done)
        for i, im in enumerate(images):
            preps[i] = prep = letterbox(im, self.imgsz, ratio=ratios[i])
            self._queue.start_async({0: prep.image[None]}, i)
        self._queue.wait_all()
        if errors:
            raise errors[0]
        return [d for d in out if d is not None]


def _is_quantized(model: Any) -> bool:
    return any(op.get_type_name() == "FakeQuantize" for op in model.get_ops())


def quantize_int8(fp32_dir: Path, int8_dir: Path, frames: Iterable[np.ndarray], imgsz: int, *,
                  progress: Callable[[str], None] | None = None) -> Path:
    """Quantise the FP32 IR in ``fp32_dir`` to INT8 with NNCF, calibrated on ``frames`` (BGR, any size), into
    ``int8_dir`` (written atomically: a folder that exists is complete). The detection head's box decoding and
    class sigmoid stay in floating point, as ultralytics does. Returns ``int8_dir``."""
    import nncf
    import openvino as ov

    core = ov.Core()
    model = core.read_model(model_xml(fp32_dir))
    tensors = [network_input(letterbox(f, imgsz).image) for f in frames]
    if not tensors:
        raise ValueError("no calibration frames")
    ops = model.get_ordered_ops()
    sigmoids = [op.get_friendly_name() for op in ops if op.get_type_name() == "Sigmoid"]
    ignored = None
    if sigmoids:
        head = sigmoids[-1].split("/", 1)[0]
        ignored = nncf.IgnoredScope(names=[
            op.get_friendly_name() for op in ops
            if op.get_type_name() == "Sigmoid" or op.get_friendly_name().startswith((f"{head}/", f"{head}.dfl"))
        ])
    t0 = time.perf_counter()
    quantized = nncf.quantize(model, nncf.Dataset(tensors), preset=nncf.QuantizationPreset.MIXED,
                              subset_size=len(tensors), ignored_scope=ignored)
    tmp = int8_dir.with_name(f".{int8_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    xml = model_xml(fp32_dir)
    ov.save_model(quantized, tmp / xml.name.replace(".xml", "-int8.xml"), compress_to_fp16=False)
    for extra in fp32_dir.iterdir():
        if extra.suffix not in (".xml", ".bin"):
            shutil.copy2(extra, tmp / extra.name)
    shutil.rmtree(int8_dir, ignore_errors=True)
    tmp.rename(int8_dir)
    if progress is not None:
        progress(f"quantised {xml.name} to INT8 on {len(tensors)} frames in {time.perf_counter() - t0:.0f}s")
    return int8_dir
