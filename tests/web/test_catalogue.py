"""The web app's strings and requests, read from its sources (no browser): one message catalogue with the same keys
in Chinese and English, every key the code looks up present, a label for every event type, severity, status, role
and action the hub knows, no UI text outside the catalogue, and no address outside the hub.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import get_args

from events.archive import Action, EventStatus
from identity.roles import Role
from sharpeyes.schema import EventType, Severity

STATIC = resources.files("api") / "static"
SOURCES = {p.name: p.read_text(encoding="utf-8") for p in STATIC.iterdir() if p.name.endswith((".js", ".html",
                                                                                                 ".css"))}
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")


def catalogue(name: str) -> dict[str, str]:
    text = SOURCES["i18n.js"]
    block = re.search(rf"const {name} = \{{\n(.*?)\n\}};", text, re.S)
    assert block, f"no catalogue {name} in i18n.js"
    return dict(re.findall(r'"([\w.-]+)": "((?:[^"\\]|\\.)*)"', block.group(1)))


def test_both_languages_have_the_same_keys() -> None:
    zh, en = catalogue("zh"), catalogue("en")
    assert len(zh) > 200
    assert set(zh) == set(en), (set(zh) ^ set(en))
    # the Chinese side is Chinese (names, the language switch and symbols aside)
    untranslated = [k for k, v in zh.items() if not CJK.search(v) and re.search("[A-Za-z]", re.sub(r"\{\w+\}", "", v))]
    assert untranslated == ["app.short", "lang.switch"]


def test_every_key_the_code_uses_is_in_the_catalogue() -> None:
    zh = catalogue("zh")
    used = {key for name, text in SOURCES.items() if name != "i18n.js"
            for key in re.findall(r'\bt\("([\w.-]+)"\s*[,)]', text)}
    assert used and used <= set(zh), sorted(used - set(zh))
    # keys built at run time: a label for everything the hub can send
    dynamic = ([f"type.{e.value}" for e in EventType] + [f"severity.{s.value}" for s in Severity]
               + [f"status.{s}" for s in get_args(EventStatus)] + [f"role.{r.value}" for r in Role]
               + [f"action.{a}" for a in get_args(Action)])
    assert set(dynamic) <= set(zh), sorted(set(dynamic) - set(zh))


def test_no_text_outside_the_catalogue_and_no_address_outside_the_hub() -> None:
    for name, text in SOURCES.items():
        if name != "i18n.js":
            code = re.sub(r"//.*|/\*.*?\*/|^\s*\*.*$", "", text, flags=re.M | re.S)  # comments may cite Chinese
            assert not CJK.search(code), (name, CJK.findall(code)[:5])
        urls = set(re.findall(r"(?:https?:)?//[\w.-]+\.[a-z]{2,}[^\s\"'`)]*", text)) - {"//www.w3.org/2000/svg"}
        assert not {u for u in urls if "w3.org/2000/svg" not in u}, (name, urls)
