"""The schema's migration history (sharpeyes/migrate.py, sharpeyes/migrations/) on SQLite and PostgreSQL: the
models agree with the head; a database a release before migrations made, with data, is upgraded in place (tables
and columns it lacks added, every row kept); a column only a person could fill and a database of a newer release
are refused with a message; hubs starting together on one PostgreSQL migrate and seed once; a model change
becomes the next revision; ``sharpeyes db``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Column, Engine, MetaData, String, Table, func, inspect, select, text

from events.archive import AccessRecord, Archive, ArchiveBase
from identity.models import IdentityBase
from identity.store import IdentityStore
from registry.models import AvailabilityRecord, Base, Jurisdiction
from registry.store import Registry
from sharpeyes import migrate
from sharpeyes.cli import main
from sharpeyes.connections import make_engine
from sharpeyes.schema import SnapshotRef
from sharpeyes.settings import PROJECT_ROOT
from tests.support.databases import as_previous_release
from tests.support.env import clean_settings_env
from tests.support.events import CAM, PATH, VILLAGE, make_event
from tests.support.registry import TWO_CAMERAS_YAML, write_configs

MODELS: list[MetaData] = [Base.metadata, ArchiveBase.metadata, IdentityBase.metadata]
PASSWORD = "Migration-Test-Secret-2024"


def changes(diff: list[Any]) -> list[tuple[str, str, str]]:
    """(kind, table, column) of each change in an autogenerate diff (column changes come nested in lists)."""
    out = []
    for item in diff:
        for op in item if isinstance(item, list) else [item]:
            if op[0].startswith("modify_"):
                out.append((op[0], op[2], op[3]))
            else:
                out.append((op[0], getattr(op[1], "name", ""), ""))
    return out


def test_models_agree_with_the_head(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert migrate.current(engine) is None
        assert migrate.upgrade(engine) == migrate.head()
        assert migrate.schema_diff(engine, MODELS) == []
        assert migrate.upgrade(engine) == migrate.head()  # at the head: nothing to do
        # and the diff can fail: a model column the database lacks is reported
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE key_points DROP COLUMN source_file"))
        assert changes(migrate.schema_diff(engine, MODELS)) == [("add_column", "", "")]
    finally:
        engine.dispose()


def test_downgrade_to_nothing_and_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrate.current(engine) is None
        migrate.upgrade(engine)
        assert migrate.schema_diff(engine, MODELS) == []
    finally:
        engine.dispose()


def test_a_model_change_becomes_the_next_revision(tmp_path: Path) -> None:
    scripts = tmp_path / "migrations"  # a copy: the shipped folder is never written by tests
    shutil.copytree(migrate.SCRIPTS, scripts, ignore=shutil.ignore_patterns("__pycache__"))
    extra = MetaData()
    Table("worker_leases", extra, Column("camera_id", String(20), primary_key=True),
          Column("owner", String(100), nullable=False))
    models = [*MODELS, extra]
    scratch = make_engine(f"sqlite:///{tmp_path / 'scratch.db'}")
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    try:
        top = migrate.head()
        nxt = f"{int(top) + 1:04d}"
        path = migrate.new_revision(scratch, models, "add worker leases", scripts=scripts)
        assert path == scripts / "versions" / f"v{nxt}_add_worker_leases.py"
        code = path.read_text(encoding="utf-8")
        assert f"revision = '{nxt}'" in code and f"down_revision = '{top}'" in code
        assert "op.create_table('worker_leases'" in code and "op.drop_table('worker_leases')" in code
        with fresh.begin() as conn:  # the longer history builds a database that matches the changed models
            command.upgrade(migrate.alembic_config(conn, scripts=scripts), "head")
        assert migrate.schema_diff(fresh, models) == []
        assert migrate.current(fresh) == nxt
    finally:
        scratch.dispose()
        fresh.dispose()


def make_hub_data(url: str, configs: Path) -> dict[str, str]:
    """A database the current release filled: cameras from YAML, ledgers, an event acknowledged, an access record,
    an account and an API token. Returns the ids the test looks for."""
    reg = Registry(url)
    reg.init()
    reg.sync_camera_configs(write_configs(configs, TWO_CAMERAS_YAML))
    reg.record_availability(CAM, "online")
    reg.record_quality(CAM, False, "blur")
    archive = Archive(url)
    archive.init()
    event = make_event(occurred_at=datetime(2026, 11, 30, 22, 15, 0, 123000, tzinfo=UTC),
                       snapshot=SnapshotRef(ref=f"{CAM}/a.jpg", sha256="0" * 64, width=4, height=3))
    archive.record(event, PATH)
    archive.act(event.id, "ack", center=VILLAGE, user="张三", reason="已派员核查")
    archive.log_access(user="张三", unit="派出所", reason="核查", action="view_event", target=event.id)
    ids = IdentityStore(url)
    ids.init()
    ids.add_user("zhang", role="operator", jurisdiction="140429100", password=PASSWORD, unit="丰州镇综治中心")
    token = ids.add_token("wvp", role="operator", jurisdiction="140429")
    for store in (ids, archive, reg):
        store.close()
    return {"event": event.id, "token": token}


def test_previous_release_database_with_data_is_upgraded_in_place(database_url: str, tmp_path: Path) -> None:
    made = make_hub_data(database_url, tmp_path / "cfg")
    # as a release before migrations, before the quality ledger and the access log, before privacy masks,
    # per-camera models and snapshot lookup left it (and, like every such release, before node pins: node_label
    # goes too, tests/support/databases.py)
    as_previous_release(database_url, drop_tables=["camera_quality", "access_log"],
                        drop_columns={"cameras": ["privacy_masks", "detector_model"], "events": ["snapshot_ref"]})
    engine = make_engine(database_url)
    assert migrate.current(engine) is None
    assert not inspect(engine).has_table("camera_quality")

    reg = Registry(database_url)  # what the hub does at start
    reg.init()
    archive, ids = Archive(database_url), IdentityStore(database_url)
    archive.init()
    ids.init()
    try:
        assert migrate.current(engine) == migrate.head()
        # every row kept; the added columns hold their defaults
        cams = reg.cameras()
        assert [(c.name, c.privacy_masks, c.detector_model, c.node_label, c.sample_mode, c.sample_fps)
                for c in cams] == [("校园路口", [], None, None, "auto", 1.0), ("村委会", [], None, None, "fps", 2.0)]
        assert reg.camera_pins() == {CAM: None, "14042900001325000002": None}
        with reg.sessions() as s:
            assert s.scalar(select(func.count()).select_from(AvailabilityRecord)) == 1
            assert s.scalar(select(func.count()).select_from(Jurisdiction)) > 15
        stored = archive.get(made["event"])
        assert stored is not None and stored.status == "acknowledged"
        assert stored.event.occurred_at == datetime(2026, 11, 30, 22, 15, 0, 123000, tzinfo=UTC)
        assert [a["user"] for a in archive.actions(made["event"])] == ["张三"]
        assert ids.authenticate("zhang", PASSWORD).unit == "丰州镇综治中心"
        assert ids.token_principal(made["token"]) is not None
        # and what was missing works
        reg.record_quality(CAM, True)
        archive.log_access(user="李四", unit="派出所", reason="复核", action="view_event", target=made["event"])
        assert [a.user for a in archive.access_log()] == ["李四"]
        reg.sync_camera_configs(tmp_path / "cfg")
        assert reg.cameras()[0].privacy_masks[0]["name"] == "住宅窗户"
        assert "ix_events_snapshot_ref" in {i["name"] for i in inspect(engine).get_indexes("events")}
        # the schema is the head's: exactly on PostgreSQL; SQLite cannot make an added column NOT NULL
        diff = changes(migrate.schema_diff(engine, MODELS))
        if engine.dialect.name == "sqlite":
            assert diff == [("modify_nullable", "cameras", "privacy_masks")]
        else:
            assert diff == []
        with ids._db() as s:
            assert s.scalar(select(func.count()).select_from(AccessRecord)) == 1
    finally:
        for store in (ids, archive, reg):
            store.close()
        engine.dispose()


def insert_camera(engine: Engine, **columns: object) -> Table:
    """What an earlier release's registry wrote, through the tables as the database has them now: a county and one
    camera in it (plus ``columns``). Returns the cameras table as it was."""
    at_revision = MetaData()
    jurisdictions = Table("jurisdictions", at_revision, autoload_with=engine)
    cameras = Table("cameras", at_revision, autoload_with=engine)
    now = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    with engine.begin() as conn:
        conn.execute(jurisdictions.insert().values(code="140429", name="武乡县", level="county", has_center=True,
                                                   synthetic=False, source="seed"))
        conn.execute(cameras.insert().values(
            id=CAM, name="校园路口", jurisdiction_code="140429", stream_url="rtsp://127.0.0.1:8554/vtest",
            sample_mode="auto", sample_fps=1.0, rules=[], privacy_masks=[], enabled=True, created_at=now,
            updated_at=now, **columns))
    return cameras


def test_a_v0001_database_with_a_camera_gains_node_label(database_url: str, tmp_path: Path) -> None:
    """A database the first migrating release left (at 0001, a camera registered) is taken to the head: the row is
    kept, unpinned; a pin can then be stored; and the downgrade to 0001 drops the column, the row still kept."""
    engine = make_engine(database_url)
    try:
        assert migrate.upgrade(engine, "0001") == "0001"
        assert "node_label" not in {c["name"] for c in inspect(engine).get_columns("cameras")}
        cameras = insert_camera(engine, detector_model="yolo11n")

        reg = Registry(database_url)  # what the hub does at start
        try:
            reg.init()
            assert migrate.current(engine) == migrate.head()
            assert migrate.schema_diff(engine, MODELS) == []
            (cam,) = reg.cameras()
            assert (cam.id, cam.name, cam.detector_model, cam.node_label) == (CAM, "校园路口", "yolo11n", None)
            assert reg.camera_pins() == {CAM: None}
            with reg.sessions.begin() as s:
                s.execute(text("UPDATE cameras SET node_label = 'gpu'"))
            assert reg.camera_pins() == {CAM: "gpu"}
        finally:
            reg.close()

        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0001")
        assert migrate.current(engine) == "0001"
        assert "node_label" not in {c["name"] for c in inspect(engine).get_columns("cameras")}
        with engine.connect() as conn:
            assert conn.execute(select(cameras.c.id, cameras.c.detector_model)).all() == [(CAM, "yolo11n")]
    finally:
        engine.dispose()


def test_a_column_only_a_person_could_fill_stops_the_upgrade(database_url: str, tmp_path: Path) -> None:
    make_hub_data(database_url, tmp_path / "cfg")
    as_previous_release(database_url, drop_columns={"cameras": ["stream_url"]})
    reg = Registry(database_url)
    try:
        with pytest.raises(RuntimeError, match=r"table cameras lacks column\(s\) stream_url, which only a person"):
            reg.init()
        assert migrate.current(reg.engine) is None  # nothing half-done is recorded
    finally:
        reg.close()


def test_a_database_of_a_newer_release_is_refused(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        migrate.upgrade(engine)
        with engine.begin() as conn:
            conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(migrate.SchemaError, match=r"revision '9999', which this release does not know"):
            Registry(database_url).init()
    finally:
        engine.dispose()


def test_hubs_starting_together_migrate_and_seed_once(postgres_url: str, tmp_path: Path) -> None:
    configs = write_configs(tmp_path / "cfg", TWO_CAMERAS_YAML)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def hub_start() -> None:  # what build_components does, as one node of four
        reg = Registry(postgres_url)
        try:
            start.wait()
            reg.init()
            reg.sync_camera_configs(configs)
            ids = IdentityStore(postgres_url)
            ids.init()
            ids.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            reg.close()

    threads = [threading.Thread(target=hub_start) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    reg = Registry(postgres_url)
    try:
        assert migrate.current(reg.engine) == migrate.head()
        assert [c.name for c in reg.cameras()] == ["校园路口", "村委会"]
        assert len(reg.jurisdiction_codes()) == 18
    finally:
        reg.close()


def test_processes_upgrading_together_take_turns(postgres_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHARPEYES_") and k != "REDIS_URL"}
    env.update(DATABASE_URL=postgres_url, SHARPEYES_DATA_DIR=str(tmp_path), PYTHONPATH=str(PROJECT_ROOT))
    procs = [subprocess.Popen([sys.executable, "-m", "sharpeyes.cli", "db", "upgrade"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(3)]
    outputs = [p.communicate(timeout=120)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    assert sum(f"(none) -> {migrate.head()}" in out for out in outputs) >= 1
    engine = make_engine(postgres_url)
    try:
        assert migrate.current(engine) == migrate.head() and migrate.schema_diff(engine, MODELS) == []
    finally:
        engine.dispose()


def test_db_commands(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                     capsys: pytest.CaptureFixture[str]) -> None:
    clean_settings_env(monkeypatch)
    monkeypatch.setenv("SHARPEYES_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", database_url)
    assert main(["db", "current"]) == 0
    assert "(none) (not migrated: run `sharpeyes db upgrade`)" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert f"(none) -> {migrate.head()}" in capsys.readouterr().out
    assert main(["db", "current"]) == 0
    assert f": {migrate.head()} (head)" in capsys.readouterr().out
    assert main(["db", "check"]) == 0
    assert "schema matches" in capsys.readouterr().out
    engine = make_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_users_jurisdiction"))
    engine.dispose()
    assert main(["db", "check"]) == 1
    assert "ix_users_jurisdiction" in capsys.readouterr().err


def test_a_v0002_database_gains_motion_regions(database_url: str) -> None:
    """A database at 0002 (a camera registered) is taken to the head: the row is kept with motion_regions NULL (the
    hub's setting), a camera's choice can then be stored, and the downgrade to 0002 drops the column, the row kept."""
    engine = make_engine(database_url)
    try:
        assert migrate.upgrade(engine, "0002") == "0002"
        assert "motion_regions" not in {c["name"] for c in inspect(engine).get_columns("cameras")}
        cameras = insert_camera(engine, node_label="gpu")

        reg = Registry(database_url)
        try:
            reg.init()
            assert migrate.current(engine) == migrate.head()
            assert migrate.schema_diff(engine, MODELS) == []
            (cam,) = reg.cameras()
            assert (cam.id, cam.node_label, cam.motion_regions) == (CAM, "gpu", None)
            with reg.sessions.begin() as s:
                s.execute(text("UPDATE cameras SET motion_regions = false"))
            assert reg.cameras()[0].motion_regions is False
        finally:
            reg.close()

        with engine.begin() as conn:
            command.downgrade(migrate.alembic_config(conn), "0002")
        assert migrate.current(engine) == "0002"
        assert "motion_regions" not in {c["name"] for c in inspect(engine).get_columns("cameras")}
        with engine.connect() as conn:
            assert conn.execute(select(cameras.c.id, cameras.c.node_label)).all() == [(CAM, "gpu")]
    finally:
        engine.dispose()
