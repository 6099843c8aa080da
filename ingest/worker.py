"""The supervised ingest worker of one camera: keeps an ffmpeg sampler running, reconnects with exponential
backoff, and reports online/offline transitions (as ``camera_online``/``camera_offline`` events and in the
availability ledger).

It hands frames to a callable and events to another; it knows nothing of analytics, Redis or HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from ingest.sampler import FfmpegSampler, StreamError
from sharpeyes.frames import Frame, SampleMode
from sharpeyes.schema import Event, EventType, Severity
from sharpeyes.settings import IngestSettings
from sharpeyes.supervisor import RestartPolicy, Worker
from sharpeyes.urls import Credentials

log = logging.getLogger(__name__)

State = Literal["unknown", "online", "offline"]


class StateNotRecorded(Exception):
    """Raised by ``on_state`` when a state change could not be recorded (the availability ledger refused it): the
    worker keeps its previous state, emits no event, and reports the change again when it next sees it, no sooner
    than ``state_retry_s`` later, so the ledger gets the transition late rather than never."""


class CameraIngest(Worker):
    def __init__(
        self,
        *,
        camera_id: str,
        camera_name: str,
        civil_codes: list[str],
        url: str,
        fps: float,
        mode: SampleMode,
        settings: IngestSettings,
        on_frame: Callable[[Frame], None],
        on_event: Callable[[Event], None],
        on_state: Callable[[str, str, str], None] | None = None,
        initial_state: State = "unknown",
        credentials: Credentials | None = None,
    ) -> None:
        super().__init__(f"ingest:{camera_id}", RestartPolicy(mode="always"))
        self.camera_id = camera_id
        self.camera_name = camera_name
        self.civil_codes = civil_codes
        self.url = url
        self.fps = fps
        self.mode: SampleMode = mode
        self.settings = settings
        self.on_frame = on_frame
        self.on_event = on_event
        self.on_state = on_state
        self.credentials = credentials  # injected into the ffmpeg URL at spawn time only
        self.state: State = initial_state
        self.frames = 0
        self.failures = 0
        self.last_reason = ""
        self.state_retry_s = 5.0  # after a change that was not recorded, report it again no sooner than this
        self._retry_state_at = 0.0
        self._sampler: FfmpegSampler | None = None
        self._lock = threading.Lock()
        # a heartbeat is due at least every stall timeout plus the longest backoff
        self.heartbeat_timeout_s = settings.stall_timeout_s + settings.backoff_max_s + 10

    def _set_state(self, state: State, reason: str) -> None:
        previous = self.state
        if previous == state or time.monotonic() < self._retry_state_at:
            return
        log.info("camera %s: %s -> %s (%s)", self.camera_id, previous, state, reason)
        if self.on_state is not None:
            try:
                self.on_state(self.camera_id, state, reason)
            except StateNotRecorded as exc:
                self._retry_state_at = time.monotonic() + self.state_retry_s
                log.warning("camera %s: %s -> %s not recorded (%s); reported again in %.0f s or later",
                            self.camera_id, previous, state, exc, self.state_retry_s)
                return
        self.state = state
        # A first connection after start is not news; coming back after being offline is.
        if state == "online" and previous != "offline":
            return
        self.on_event(
            Event(
                type=EventType.CAMERA_ONLINE if state == "online" else EventType.CAMERA_OFFLINE,
                severity=Severity.INFO if state == "online" else Severity.MINOR,
                camera_id=self.camera_id,
                camera_name=self.camera_name,
                civil_codes=self.civil_codes,
                occurred_at=datetime.now(UTC),
                detail={"reason": reason[:300]},
            )
        )

    def run(self) -> None:
        backoff = self.settings.backoff_initial_s
        while not self.stopping.is_set():
            self.beat()
            sampler = FfmpegSampler(
                self.camera_id,
                self.url,
                fps=self.fps,
                mode=self.mode,
                timeout_s=self.settings.connect_timeout_s,
                stall_timeout_s=self.settings.stall_timeout_s,
                credentials=self.credentials,
            )
            with self._lock:
                self._sampler = sampler
            if self.stopping.is_set():
                break
            try:
                for frame in sampler.frames():
                    if self.state != "online":
                        self._set_state("online", "frames flowing")
                    self.failures = 0
                    backoff = self.settings.backoff_initial_s
                    self.frames += 1
                    self.beat()
                    self.on_frame(frame)
                if self.stopping.is_set():
                    break
                reason = "stream closed"
            except StreamError as exc:
                reason = str(exc)
            self.failures += 1
            self.last_reason = reason
            log.warning("camera %s: %s (failure %d, retry in %.1fs)", self.camera_id, reason, self.failures, backoff)
            if self.failures >= self.settings.offline_after_failures:
                self._set_state("offline", reason)
            if self.sleep(backoff):
                break
            backoff = min(backoff * 2, self.settings.backoff_max_s)

    def on_stop(self) -> None:
        with self._lock:
            if self._sampler is not None:
                self._sampler.close()

    def status(self) -> dict[str, object]:
        out = super().status()
        sampler = self._sampler
        out.update(camera_id=self.camera_id, state=self.state, frames=self.frames, failures=self.failures,
                   last_reason=self.last_reason, mode=self.mode,
                   decode=sampler.resolved_mode if sampler is not None else None)
        return out
