"""Prometheus metrics of the hub, defined once here and updated by each stage; served at ``GET /metrics``."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

FRAMES_SAMPLED = Counter("sharpeyes_frames_sampled_total", "Frames delivered by ffmpeg samplers", ["camera"])
FRAMES_DROPPED = Counter(
    "sharpeyes_frames_dropped_total", "Sampled frames replaced by a newer one before detection", ["camera"]
)
FRAMES_DETECTED = Counter("sharpeyes_frames_detected_total", "Frames run through the detector", ["camera"])
FRAMES_GATED = Counter(
    "sharpeyes_frames_gated_total", "Sampled frames the motion gate kept from the detector", ["camera", "reason"]
)
DETECT_BATCH_SIZE = Histogram(
    "sharpeyes_detect_batch_size", "Frames per detector batch", buckets=(1, 2, 4, 8, 16, 32, 64)
)
QUALITY_OK = Gauge("sharpeyes_camera_quality_ok", "1 when the camera passes the video-quality diagnosis", ["camera"])
QUALITY_FAULTS = Counter("sharpeyes_quality_faults_total", "Quality fault episodes raised", ["camera", "fault"])
DETECTED_AREA = Histogram(
    "sharpeyes_detected_area_share", "Share of the frame's area detected (1: whole frame; less: a motion region)",
    buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0),
)
DETECTOR = Info(
    "sharpeyes_detector", "The detector each model runs on: backend, precision (fp32/int8), mode (sync/async)",
    ["model"],
)
DETECT_SECONDS = Histogram(
    "sharpeyes_detect_seconds", "Detector latency per frame",
    buckets=(0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 5.0),
)
FRAME_TO_EVENT_SECONDS = Histogram(
    "sharpeyes_frame_to_event_seconds", "From frame capture to the event in its streams",
    buckets=(0.05, 0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 5.0, 10.0),
)
EVENTS_PUBLISHED = Counter("sharpeyes_events_published_total", "Events written to Redis", ["type", "severity"])
EVENTS_SPOOLED = Gauge("sharpeyes_events_pending_publish", "Events accepted but not yet in Redis")
CAMERA_ONLINE = Gauge("sharpeyes_camera_online", "1 when the camera's stream delivers frames", ["camera"])
