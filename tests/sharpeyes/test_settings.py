"""Settings: defaults, environment (prefixed, nested, and the bare REDIS_URL/DATABASE_URL), YAML file, and refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from sharpeyes.settings import PROJECT_ROOT, Settings
from tests.support.env import clean_settings_env

THIRTY_DAYS = 30 * 24 * 3600


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_settings_env(monkeypatch)


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == PROJECT_ROOT / "data"
    assert s.redis_url is None
    assert s.database_url is None
    assert s.effective_database_url == f"sqlite:///{PROJECT_ROOT / 'data' / 'sharpeyes.db'}"
    assert s.camera_configs == PROJECT_ROOT / "camera_configs"
    assert s.routing_policy is None
    assert s.key_prefix == "sharpeyes"
    assert s.event_ttl_s == THIRTY_DAYS
    assert s.detector.model == "fall-detection"
    assert s.detector.backend == "auto"
    assert s.detector.imgsz == 640
    assert s.api.port == 8000
    assert s.api.host == "127.0.0.1"
    assert s.demo.enabled is False
    assert s.snapshot_dir == s.data_dir / "snapshots"
    assert s.model_dir == s.data_dir / "models"


def test_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SHARPEYES_DETECTOR__IMGSZ", "320")
    monkeypatch.setenv("SHARPEYES_DETECTOR__BACKEND", "openvino")
    monkeypatch.setenv("SHARPEYES_API__PORT", "8123")
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6399/2")
    monkeypatch.setenv("DATABASE_URL", "postgresql://hub@db/sharpeyes")
    s = Settings()
    assert s.detector.imgsz == 320
    assert s.detector.backend == "openvino"
    assert s.detector.confidence == 0.35  # siblings of an env-set nested field keep their defaults
    assert s.api.port == 8123
    assert s.data_dir == tmp_path
    assert s.snapshot_dir == tmp_path / "snapshots"
    assert s.redis_url == "redis://127.0.0.1:6399/2"
    assert s.effective_database_url == "postgresql://hub@db/sharpeyes"


def test_prefixed_redis_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REDIS_URL", "redis://bare:6379/0")
    monkeypatch.setenv("SHARPEYES_REDIS_URL", "redis://prefixed:6379/0")
    assert Settings().redis_url == "redis://prefixed:6379/0"


def test_bad_env_value_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARPEYES_DETECTOR__IMGSZ", "32")
    with pytest.raises(ValidationError, match="imgsz"):
        Settings()


def test_yaml_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(
        "key_prefix: county\n"
        "event_ttl_s: 5184000\n"
        "redis_url: redis://10.0.0.5:6379/0\n"
        "detector: {imgsz: 480, device: 'cuda:0'}\n"
        "api: {port: 9000}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SHARPEYES_CONFIG", str(cfg))
    s = Settings()
    assert s.key_prefix == "county"
    assert s.event_ttl_s == 5_184_000
    assert s.redis_url == "redis://10.0.0.5:6379/0"
    assert (s.detector.imgsz, s.detector.device) == (480, "cuda:0")
    assert s.api.port == 9000

    # the environment overrides the file, and constructor arguments override both
    monkeypatch.setenv("SHARPEYES_KEY_PREFIX", "fromenv")
    monkeypatch.setenv("SHARPEYES_API__PORT", "9100")
    s2 = Settings()
    assert s2.key_prefix == "fromenv"
    assert s2.api.port == 9100
    assert Settings(key_prefix="fromarg").key_prefix == "fromarg"


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("bogus_setting: 1\n", "bogus_setting"),
        ("detector: {imgsz: 320, weights: x.pt}\n", "weights"),
        ("api: {port: 8000, tls: true}\n", "tls"),
    ],
)
def test_unknown_key_in_yaml_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, text: str,
                                     field: str) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SHARPEYES_CONFIG", str(cfg))
    with pytest.raises(ValidationError) as info:
        Settings()
    assert field in str(info.value)
    assert any(err["type"] == "extra_forbidden" for err in info.value.errors())


@pytest.mark.parametrize(
    ("var", "field"),
    [("SHARPEYES_REDIS_URLL", "redis_urll"), ("SHARPEYES_DETECTOR__WEIGHTS", "weights")],
)
def test_unknown_key_in_env_refused(monkeypatch: pytest.MonkeyPatch, var: str, field: str) -> None:
    monkeypatch.setenv(var, "x")
    with pytest.raises(ValidationError) as info:
        Settings()
    assert field in str(info.value)
    assert any(err["type"] == "extra_forbidden" for err in info.value.errors())


def test_config_variable_is_not_an_unknown_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "empty.yaml"
    cfg.write_text("", encoding="utf-8")
    monkeypatch.setenv("SHARPEYES_CONFIG", str(cfg))
    assert Settings().key_prefix == "sharpeyes"


def test_unknown_constructor_key_refused() -> None:
    with pytest.raises(ValidationError, match="not_a_setting"):
        Settings(not_a_setting=1)  # type: ignore[call-arg]


def test_yaml_must_be_a_mapping(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    cfg = tmp_path / "hub.yaml"
    cfg.write_text("- a\n- b\n", encoding="utf-8")
    monkeypatch.setenv("SHARPEYES_CONFIG", str(cfg))
    with pytest.raises(ValueError, match="mapping"):
        Settings()


def test_event_ttl_below_thirty_days_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert Settings(event_ttl_s=THIRTY_DAYS).event_ttl_s == THIRTY_DAYS
    with pytest.raises(ValidationError, match="event_ttl_s"):
        Settings(event_ttl_s=THIRTY_DAYS - 1)
    monkeypatch.setenv("SHARPEYES_EVENT_TTL_S", str(7 * 24 * 3600))
    with pytest.raises(ValidationError, match="event_ttl_s"):
        Settings()
    monkeypatch.delenv("SHARPEYES_EVENT_TTL_S")
    cfg = tmp_path / "hub.yaml"
    cfg.write_text("event_ttl_s: 86400\n", encoding="utf-8")
    monkeypatch.setenv("SHARPEYES_CONFIG", str(cfg))
    with pytest.raises(ValidationError, match="event_ttl_s"):
        Settings()
