"""OpenVINO inference without ultralytics' predictor: letterbox, infer (sync or N requests in flight), decode, NMS.

Owns the compiled OpenVINO model of one exported detector (FP32 or INT8 IR) and turns BGR frames into
:class:`~analytics.detections.Detections`, reproducing ultralytics' pre- and post-processing (minimum-rectangle
letterbox with grey 114 padding, class-wise NMS, boxes scaled back to the frame) so the boxes match what
``YOLO.predict`` returns for the same model. The compiled model takes the letterboxed BGR frame as it is (uint8,
HWC): the conversion to the network's float RGB CHW in [0, 1] is a preprocessing step of the graph
(:func:`with_preprocessing`), done by OpenVINO on its own threads beside the first layer, instead of a float
blob made in Python for every frame (3.6 ms of one core for a 640×480 frame, about a sixth of an INT8 inference).
Two modes:

- ``sync``: frames of the same shape stacked into one batch on one inference request (the LATENCY hint: one frame
  uses every core); a lone input (one frame, a window) on a request kept for its shape;
- ``async``: an :class:`openvino.AsyncInferQueue` with ``requests`` in flight (the THROUGHPUT hint: one CPU stream
  per request), so the letterbox of one frame and the decoding of another overlap inference on all cores;
- ``auto``: both compiled; a lone frame takes the sync request (lowest latency), several the async queue (most
  frames per second): a lone frame on one stream of the THROUGHPUT model would take about twice as long.

Motion regions (``analytics/motion.py``) are detected as windows of the letterboxed frame cut on the network's
32-pixel grid (:func:`crop_windows`): the network sees there exactly the pixels, and the phase of every feature
map, of a whole-frame pass, so a person inside a window is found at the same place; each window is one input
(in async mode the windows of several frames share the requests in flight), and a frame's windows are decoded
together, one NMS over all of them.

Also owns INT8 post-training quantisation of an FP32 IR with NNCF (:func:`quantize_int8`), calibrated on frames
the caller supplies (nothing is downloaded). Must not read settings files, Redis or SQL.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
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
_SHAPES_KEPT = 24  # sync requests kept for lone inputs, one per shape (windows are multiples of 64 px: few shapes)


@dataclass(frozen=True, slots=True)
class Letterboxed:
    """One frame prepared for the network: the letterboxed frame and how to map boxes back."""

    image: np.ndarray  # BGR uint8, H×W×3, H and W multiples of the stride: what the compiled model takes
    ratio: float  # network pixels per frame pixel
    left: int  # padding added on the left, network pixels
    top: int
    shape: tuple[int, int]  # (h, w) of the original frame


def letterbox(image: np.ndarray, size: int, stride: int = 32) -> Letterboxed:
    """Resize keeping the aspect ratio so the long side is ``size`` and pad to the smallest multiple of ``stride``
    (ultralytics' ``LetterBox(auto=True)``); the frame stays BGR uint8 (:func:`network_input` gives the raw
    network's float input)."""
    h, w = image.shape[:2]
    r = min(size / h, size / w)
    nw, nh = max(round(w * r), 1), max(round(h * r), 1)
    dw, dh = (size - nw) % stride / 2, (size - nh) % stride / 2
    resized = image if (nw, nh) == (w, h) else cv2.resize(image, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = round(dh - 0.1), round(dh + 0.1)
    left, right = round(dw - 0.1), round(dw + 0.1)
    if top or bottom or left or right:
        resized = cv2.copyMakeBorder(resized, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(_PAD,) * 3)
    return Letterboxed(np.ascontiguousarray(resized), r, left, top, (h, w))


Window = tuple[int, int, int, int]  # x0, y0, x1, y1 in the letterboxed frame's pixels


def crop_windows(prep: Letterboxed, regions: Sequence[tuple[int, int, int, int]], stride: int = 32,
                 snap: int = 64) -> list[Window]:
    """Frame-pixel regions as windows of the letterboxed frame that the network sees exactly as in a whole-frame
    pass: edges on the ``stride`` grid (the same pixels, the same phase of every feature map, so a person well
    inside finds the same box and confidence), sides rounded up to multiples of ``snap`` (few distinct input
    shapes: the plugin keeps what it compiled per shape), kept inside the frame. A window inside another is
    dropped."""
    ch, cw = prep.image.shape[:2]
    out: list[Window] = []
    for x0, y0, x1, y1 in regions:
        ax0 = int(np.floor((x0 * prep.ratio + prep.left) / stride)) * stride
        ay0 = int(np.floor((y0 * prep.ratio + prep.top) / stride)) * stride
        ax1 = int(np.ceil((x1 * prep.ratio + prep.left) / stride)) * stride
        ay1 = int(np.ceil((y1 * prep.ratio + prep.top) / stride)) * stride
        ax0, ay0 = min(max(ax0, 0), cw - stride), min(max(ay0, 0), ch - stride)
        w = min(cw, max(snap, -(-(min(ax1, cw) - ax0) // snap) * snap))
        h = min(ch, max(snap, -(-(min(ay1, ch) - ay0) // snap) * snap))
        ax0, ay0 = min(ax0, cw - w), min(ay0, ch - h)  # both multiples of the stride: still on the grid
        out.append((ax0, ay0, ax0 + w, ay0 + h))
    inside = {i for i, a in enumerate(out) for j, b in enumerate(out)
              if i != j and b[0] <= a[0] and b[1] <= a[1] and a[2] <= b[2] and a[3] <= b[3] and (a != b or j < i)}
    return [w for i, w in enumerate(out) if i not in inside]


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


def _is_end2end(output: np.ndarray, names: dict[int, str]) -> bool:
    """An NMS-free model's output (anchors × 6: x1, y1, x2, y2, score, class) rather than YOLO's raw one."""
    return output.ndim == 2 and output.shape[1] == 6 and output.shape[0] != 4 + len(names)


def shifted(output: np.ndarray, x0: int, y0: int, names: dict[int, str]) -> np.ndarray:
    """One window's output with its coordinates moved by the window's origin (into the letterboxed frame)."""
    out = output.copy()
    if _is_end2end(out, names):
        out[:, [0, 2]] += x0
        out[:, [1, 3]] += y0
    else:
        out[0] += x0
        out[1] += y0
    return out


def joined(outputs: Sequence[np.ndarray], names: dict[int, str]) -> np.ndarray:
    """The outputs of several windows of one frame (:func:`shifted`) as one output: anchors side by side."""
    if len(outputs) == 1:
        return outputs[0]
    return np.concatenate(outputs, axis=0 if _is_end2end(outputs[0], names) else 1)


def decode_end2end(output: np.ndarray, prep: Letterboxed, names: dict[int, str], labels: ModelLabels,
                   conf: float, iou: float | None = None) -> Detections:
    """One image's output of an NMS-free model (YOLOv10, YOLO26: rows of x1, y1, x2, y2, score, class) →
    :class:`Detections` in frame pixels; ``iou`` set (the output of overlapping windows): class-wise NMS too."""
    rows = output[output[:, 4] > conf]
    if not len(rows):
        return Detections(model_labels=labels)
    if iou is not None:
        rows = rows[_nms(rows[:, :4] + rows[:, 5:6] * _MAX_WH, rows[:, 4], iou)]
    xyxy = _to_frame(rows[:, :4].astype(np.float32), prep)
    return Detections(xyxy, rows[:, 4].astype(np.float32), [names[int(c)] for c in rows[:, 5]], model_labels=labels)


def decode(output: np.ndarray, prep: Letterboxed, names: dict[int, str], labels: ModelLabels, conf: float,
           iou: float, windows: int = 1) -> Detections:
    """One image's raw YOLO output (``4 + classes`` × anchors: centre-x, centre-y, w, h, class scores) →
    :class:`Detections` in frame pixels after class-wise NMS. An NMS-free model's output (anchors × 6) goes to
    :func:`decode_end2end` (with NMS where it joins several ``windows``)."""
    if _is_end2end(output, names):
        return decode_end2end(output, prep, names, labels, conf, iou if windows > 1 else None)
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
        self._latency: Any = None  # the LATENCY-hint model (sync, auto) and its requests (_request_for)
        self._by_shape: OrderedDict[tuple[int, ...], Any] = OrderedDict()
        self._batched: Any = None
        self._queue: Any = None
        self.requests = 1
        # 'f32': no bf16 execution on CPUs that have it (OpenVINO's default there); an INT8 model keeps its int8
        extra = {"INFERENCE_PRECISION_HINT": "f32"} if execution == "f32" else {}
        if mode in ("sync", "auto"):
            latency = core.compile_model(model, device, {"PERFORMANCE_HINT": "LATENCY", **extra})
            self._latency = latency
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
                     regions: Sequence[Sequence[tuple[int, int, int, int]] | None] | None = None
                     ) -> list[Detections]:
        """Detections of each image, in order, in frame pixels. ``regions[i]`` set (boxes in frame pixels): only
        those parts of image ``i`` are detected, as windows of its letterboxed frame (:func:`crop_windows`), and
        what they find is decoded together (one NMS over the windows)."""
        if not images:
            return []
        wanted = list(regions) if regions is not None else [None] * len(images)
        preps: list[Letterboxed | None] = [None] * len(images)
        windows = [1] * len(images)

        def jobs() -> Iterator[tuple[int, int, int, np.ndarray]]:
            """(image index, window origin x, y, network input), letterboxing each image only when it is reached,
            so in async mode the letterbox of one overlaps the inference of the one before."""
            for i, (image, boxes) in enumerate(zip(images, wanted, strict=True)):
                preps[i] = prep = letterbox(image, self.imgsz)
                found = crop_windows(prep, boxes) if boxes else []
                if not found:
                    yield i, 0, 0, prep.image
                    continue
                windows[i] = len(found)
                for x0, y0, x1, y1 in found:
                    yield i, x0, y0, np.ascontiguousarray(prep.image[y0:y1, x0:x1])

        outputs: list[list[np.ndarray]] = [[] for _ in images]
        decoded: list[Detections | None] = [None] * len(images)
        if self._queue is not None and (self._latency is None or len(images) > 1):
            self._infer_async(jobs(), outputs, decoded, preps, windows)
        else:  # a lone frame (auto) takes the sync requests: each input, whole or window, on every core
            self._infer_sync(list(jobs()), outputs)
        out = []
        for i, prep in enumerate(preps):
            found = decoded[i]
            if found is None:
                assert prep is not None
                found = decode(joined(outputs[i], self.names), prep, self.names, self.labels, self.conf, self.iou,
                               windows[i])
            out.append(found)
        return out

    def _infer_sync(self, jobs: list[tuple[int, int, int, np.ndarray]], outputs: list[list[np.ndarray]]) -> None:
        """Inputs of the same shape stacked into one batch, each batch on the request for its shape
        (:meth:`_request_for`)."""
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for k, job in enumerate(jobs):
            by_shape.setdefault(job[3].shape, []).append(k)
        for ks in by_shape.values():
            batch = np.stack([jobs[k][3] for k in ks])
            raw = self._request_for(batch.shape).infer({0: batch})[0]
            for j, k in enumerate(ks):
                i, x0, y0, _ = jobs[k]
                outputs[i].append(shifted(raw[j], x0, y0, self.names))

    def _request_for(self, shape: tuple[int, ...]) -> Any:
        """The sync request for an input of ``shape``: a request re-shaped for every window redoes its shape
        inference and memory allocation each time (1–2 ms on 2 cores), so a lone input (a window, one frame) has a
        request per recent shape (LRU, a few MB each); batches of frames share one request, as batch sizes vary
        and each would hold tens of MB."""
        if shape[0] > 1:
            if self._batched is None:
                self._batched = self._latency.create_infer_request()
            return self._batched
        request = self._by_shape.pop(shape, None)
        if request is None:
            request = self._latency.create_infer_request()
        self._by_shape[shape] = request
        while len(self._by_shape) > _SHAPES_KEPT:
            self._by_shape.popitem(last=False)
        return request

    def _infer_async(self, jobs: Iterable[tuple[int, int, int, np.ndarray]], outputs: list[list[np.ndarray]],
                     decoded: list[Detections | None], preps: list[Letterboxed | None], windows: list[int]) -> None:
        """The requests in flight, one input each, so the letterbox and decoding of one overlap the inference of
        the next: a frame detected whole is decoded in its callback, a frame's windows are kept (moved into the
        letterboxed frame) for the caller to decode together."""
        errors: list[BaseException] = []
        started: list[tuple[int, int, int]] = []

        def done(request: Any, k: int) -> None:
            try:
                i, x0, y0 = started[k]
                raw = request.get_output_tensor(0).data[0]
                prep = preps[i]
                if windows[i] == 1 and not (x0 or y0) and prep is not None:  # whole (or one window at the origin)
                    decoded[i] = decode(raw, prep, self.names, self.labels, self.conf, self.iou)
                else:
                    outputs[i].append(shifted(raw, x0, y0, self.names))
            except Exception as exc:  # noqa: BLE001 - re-raised in the caller's thread below
                errors.append(exc)

        self._queue.set_callback(done)
        for k, (i, x0, y0, image) in enumerate(jobs):
            started.append((i, x0, y0))
            self._queue.start_async({0: image[None]}, k)
        self._queue.wait_all()
        if errors:
            raise errors[0]


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
