"""The published stream contract stays in step with the code."""

from __future__ import annotations

from sharpeyes.keys import Keys
from sharpeyes.schema import json_schema_text
from sharpeyes.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"


def test_published_json_schema_matches_the_event_model() -> None:
    published = (DOCS / "event.schema.json").read_text(encoding="utf-8")
    assert published == json_schema_text(), (
        "docs/event.schema.json is stale: regenerate it with `python -m sharpeyes.schema > docs/event.schema.json` "
        "and bump SCHEMA_VERSION if the change is not backward compatible"
    )


def test_contract_names_every_key_and_event_type() -> None:
    text = (DOCS / "stream-contract.md").read_text(encoding="utf-8")
    k = Keys()
    for key in (k.center_stream("<code>"), k.firehose, k.deadletter, k.event("<id>"), k.event_entries("<id>"),
                k.escalation("<id>"), k.camera_status("<id>"), k.worker_heartbeat("<name>")):
        assert f"`{key}`" in text, key
