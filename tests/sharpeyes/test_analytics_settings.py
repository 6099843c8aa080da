"""Analytics settings: nested environment variables, unknown keys refused, batch size by device."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sharpeyes.settings import AnalyticsSettings, DetectorSettings, Settings
from tests.support.env import clean_settings_env


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    clean_settings_env(monkeypatch)


def test_env_reaches_motion_and_quality(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARPEYES_ANALYTICS__MOTION__ENABLED", "false")
    monkeypatch.setenv("SHARPEYES_ANALYTICS__MOTION__FORCE_EVERY_S", "12")
    monkeypatch.setenv("SHARPEYES_ANALYTICS__QUALITY__INTERVAL_S", "30")
    monkeypatch.setenv("SHARPEYES_DETECTOR__IMGSZ", "320")
    s = Settings()  # type: ignore[call-arg]
    assert s.analytics.motion.enabled is False and s.analytics.motion.force_every_s == 12
    assert s.analytics.quality.interval_s == 30 and s.analytics.quality.enabled
    assert s.detector.imgsz == 320


def test_unknown_analytics_key_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARPEYES_ANALYTICS__MOTION__THRESHOLD", "3")
    with pytest.raises(ValidationError, match="threshold"):
        Settings()  # type: ignore[call-arg]


def test_batch_size_by_device() -> None:
    a = AnalyticsSettings()  # type: ignore[call-arg]
    assert a.effective_batch_size(DetectorSettings()) == 8  # type: ignore[call-arg]  # OpenVINO auto: in flight
    assert a.effective_batch_size(DetectorSettings(mode="sync")) == 1  # type: ignore[call-arg]
    assert a.effective_batch_size(DetectorSettings(backend="pytorch")) == 1  # type: ignore[call-arg]
    assert a.effective_batch_size(DetectorSettings(backend="pytorch", device="cuda:0")) == 8  # type: ignore[call-arg]
    assert AnalyticsSettings(batch_size=4).effective_batch_size(DetectorSettings()) == 4  # type: ignore[call-arg]


def test_every_field_is_described() -> None:
    from sharpeyes.settings import MotionSettings, QualitySettings

    for model in (AnalyticsSettings, MotionSettings, QualitySettings):
        assert model.model_config.get("extra") == "forbid"
        for name, f in model.model_fields.items():
            assert f.description, f"{model.__name__}.{name} has no description"
