"""The published docs stay in step with the code: the JSON Schema is the event model's; docs/stream-contract.md
names every Redis key of ``sharpeyes.keys.Keys``, every consumer group, event type and severity (found by
introspection, so a new one cannot be forgotten), and no key the code does not build; every reference to a section
of docs/domain.md names one it has."""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
from pathlib import Path

from sharpeyes.keys import ARCHIVE_GROUP, CENTER_GROUP, Keys
from sharpeyes.schema import EventType, Severity, json_schema_text
from sharpeyes.settings import PROJECT_ROOT

DOCS = PROJECT_ROOT / "docs"
CONTRACT = DOCS / "stream-contract.md"
DOMAIN = DOCS / "domain.md"
_SKIP_DIRS = frozenset({".git", ".venv", "data", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache",
                        ".pytest_cache", "sharpeyes_hub.egg-info"})
_TEXT_SUFFIXES = frozenset({".py", ".md", ".yaml", ".yml", ".txt", ".toml", ".cfg", ".sh", ".json"})
_ARG = "\x00"
"""Stands for each argument of a key builder; the contract writes it as a placeholder such as ``<id>``."""


def key_patterns() -> dict[str, re.Pattern[str]]:
    """Per key builder of :class:`Keys` (property or method, public, not a dataclass field): the pattern of the key
    as the contract writes it, in backquotes, with ``<placeholder>`` for each argument."""
    keys = Keys()
    fields = {f.name for f in dataclasses.fields(Keys)}
    out: dict[str, re.Pattern[str]] = {}
    for name, member in inspect.getmembers(Keys):
        if name.startswith("_") or name in fields:
            continue
        if isinstance(member, property):
            key = getattr(keys, name)
        elif inspect.isfunction(member):
            arity = len(inspect.signature(member).parameters) - 1  # self
            key = getattr(keys, name)(*[_ARG] * arity)
        else:
            continue
        assert isinstance(key, str) and key.startswith(f"{keys.prefix}:"), (name, key)
        out[name] = re.compile("`" + "<[a-z_]+>".join(re.escape(part) for part in key.split(_ARG)) + "`")
    return out


def test_published_json_schema_matches_the_event_model() -> None:
    published = (DOCS / "event.schema.json").read_text(encoding="utf-8")
    assert published == json_schema_text(), (
        "docs/event.schema.json is stale: regenerate it with `python -m sharpeyes.schema > docs/event.schema.json` "
        "and bump SCHEMA_VERSION if the change is not backward compatible"
    )


def test_contract_names_every_key_and_event_type() -> None:
    text = CONTRACT.read_text(encoding="utf-8")
    patterns = key_patterns()
    assert {"center_stream", "firehose", "deadletter", "event", "event_entries", "escalation", "camera_status",
            "camera_quality", "worker_heartbeat"} <= set(patterns)  # the introspection finds the builders
    undocumented = [name for name, pattern in patterns.items() if not pattern.search(text)]
    assert not undocumented, f"docs/stream-contract.md does not document Keys.{', Keys.'.join(undocumented)}"
    for group in (ARCHIVE_GROUP, CENTER_GROUP):
        assert f"group `{group}`" in text, group
    missing = [t.value for t in EventType if f"`{t.value}`" not in text]
    assert not missing, f"docs/stream-contract.md does not name the event type(s) {missing}"
    missing = [s.value for s in Severity if f"`{s.value}`" not in text]
    assert not missing, f"docs/stream-contract.md does not name the severity(ies) {missing}"


def test_contract_documents_no_key_the_code_does_not_build() -> None:
    rows = [m.group(1) for m in re.finditer(r"^\| (`[^`]+`) \|", CONTRACT.read_text(encoding="utf-8"), re.M)]
    prefix = Keys().prefix
    documented = [row for row in rows if row.startswith(f"`{prefix}:")]
    assert len(documented) >= 9
    patterns = key_patterns().values()
    unknown = [row for row in documented if not any(p.fullmatch(row) for p in patterns)]
    assert not unknown, f"docs/stream-contract.md documents keys sharpeyes/keys.py does not build: {unknown}"


def _text_files() -> list[Path]:
    """The project's text files (not this one), without virtualenv, data, caches and version control."""
    out = []
    for top, dirs, files in os.walk(PROJECT_ROOT):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS]
        out += [Path(top) / f for f in files if Path(f).suffix in _TEXT_SUFFIXES]
    return [p for p in out if p != Path(__file__)]


def test_every_reference_to_docs_domain_names_a_section_it_has() -> None:
    headings = [m.group(1).strip() for m in re.finditer(r"^## (.+)$", DOMAIN.read_text(encoding="utf-8"), re.M)]
    assert "Detector" in headings and "GB/T 28181 device IDs" in headings
    # `docs/domain.md §Section …`, `docs/domain.md` §Section, docs/domain.md, "Section"; inside domain.md: (§Section)
    ref = re.compile(r'domain\.md`?(?: §|, ")(.+)')
    inner = re.compile(r"\(§([^)]+)\)")
    broken, found = [], 0
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        rests = [m.group(1) for m in ref.finditer(text)]
        if path == DOMAIN:
            rests += [m.group(1) for m in inner.finditer(text)]
        for rest in rests:
            found += 1
            if not any(rest.startswith(h) for h in headings):
                broken.append(f"{path.relative_to(PROJECT_ROOT)}: §{rest[:40]}")
    assert found >= 6, found  # the references exist (and the pattern sees them)
    assert not broken, f"references to sections docs/domain.md lacks (its sections: {headings}): {broken}"
