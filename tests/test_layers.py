"""The package layers, read from the source (every import, those inside functions too):

(a) the core (``sharpeyes/``, its composition roots excepted) imports no stage package;
(b) a stage imports no composition root (``sharpeyes.hub``, ``.cli``, ``.maintainer``, ``.components``);
(c) a stage imports only stages below it: registry < ingest < analytics < events < identity < audit < api (nothing
    imports api);
(d) no product package imports a test dependency (ipycam, pytest) or the tests.

Each broken rule is reported with file, line, the import and the rule. The checker is tested on synthetic modules
too, so that a checker that reports nothing cannot pass for a clean tree.
"""

from __future__ import annotations

import ast
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = "sharpeyes"
STAGES = ("registry", "ingest", "analytics", "events", "identity", "audit", "api")
"""Lowest first: a stage may import those before it, never those after it."""
COMPOSITION_ROOTS = frozenset({"sharpeyes.hub", "sharpeyes.cli", "sharpeyes.maintainer", "sharpeyes.components"})
"""The core modules that put the stages together: they alone may import stages, and no stage may import them."""
TEST_DEPENDENCIES = ("ipycam", "pytest", "_pytest", "pytest_timeout", "tests")

RULE_CORE = "(a) the core (sharpeyes/, composition roots excepted) must not import a stage package"
RULE_ROOT = "(b) a stage must not import a composition root (sharpeyes.hub, .cli, .maintainer, .components)"
RULE_ORDER = ("(c) a stage may import only stages below it: registry < ingest < analytics < events < identity < "
              "audit < api (nothing imports api)")
RULE_TESTS = "(d) a product package must not import a test dependency (ipycam, pytest) or the tests"


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    statement: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: `{self.statement}` breaks {self.rule}"


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> list[str]:
    """The modules an import statement may load: ``from a import b`` may load ``a`` and ``a.b``."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - node.level + 1]
        base = ".".join([*parts, node.module] if node.module else parts)
    else:
        base = node.module or ""
    return [base, *(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")]


def broken_rules(importer: str, target: str) -> list[str]:
    """The rules broken by module ``importer`` importing module ``target``."""
    src, dst = importer.split(".")[0], target.split(".")[0]
    rules: list[str] = []
    if src == CORE and importer not in COMPOSITION_ROOTS and dst in STAGES:
        rules.append(RULE_CORE)
    if src in STAGES and any(_within(target, root) for root in COMPOSITION_ROOTS):
        rules.append(RULE_ROOT)
    if src in STAGES and dst in STAGES and STAGES.index(dst) > STAGES.index(src):
        rules.append(RULE_ORDER)
    if dst in TEST_DEPENDENCIES:
        rules.append(RULE_TESTS)
    return rules


def check_source(source: str, module: str, path: str, *, is_package: bool = False) -> list[Violation]:
    """The violations in one module's source; ``module`` is its dotted name (``registry.store``)."""
    out: list[Violation] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if not isinstance(node, ast.Import | ast.ImportFrom):
            continue
        rules = dict.fromkeys(rule for target in _targets(node, module, is_package)
                              for rule in broken_rules(module, target))
        out.extend(Violation(path, node.lineno, ast.unparse(node), rule) for rule in rules)
    return sorted(out, key=lambda v: (v.path, v.line, v.rule))


def product_packages() -> list[str]:
    """The packages the project ships (pyproject's ``[tool.setuptools] packages``)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        return list(tomllib.load(f)["tool"]["setuptools"]["packages"])


def product_modules() -> Iterator[tuple[Path, str]]:
    for package in product_packages():
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            yield path, ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def check_tree() -> list[Violation]:
    out: list[Violation] = []
    for path, module in product_modules():
        out += check_source(path.read_text(encoding="utf-8"), module, str(path.relative_to(ROOT)),
                            is_package=path.name == "__init__.py")
    return out


# ------------------------------------------------------------------------------------------------ the tree
def test_every_product_package_has_a_place_in_the_layers() -> None:
    unplaced = [p for p in product_packages() if p != CORE and p not in STAGES]
    assert not unplaced, f"packages with no place in the layer order (add them to STAGES in {__file__}): {unplaced}"


def test_product_packages_respect_the_layers() -> None:
    violations = check_tree()
    assert not violations, "layer rules broken:\n" + "\n".join(map(str, violations))


def test_no_test_helper_modules_in_product_packages() -> None:
    helpers = [str(p.relative_to(ROOT)) for p, _m in product_modules() if "testing" in p.name]
    assert not helpers, f"test helpers belong in tests/support/, not in product packages: {helpers}"


# ------------------------------------------------------------------------------------------------ the checker
@pytest.mark.parametrize(("module", "source", "line", "rule"), [
    ("sharpeyes.schema", "import json\n\ndef f():\n    import registry.store\n", 4, RULE_CORE),
    ("sharpeyes.settings", "from api.app import create_app\n", 1, RULE_CORE),
    ("analytics.pipeline", "from sharpeyes import hub\n", 1, RULE_ROOT),
    ("registry.cli", "def main():\n    from sharpeyes.cli import main\n", 2, RULE_ROOT),
    ("events.publisher", "from sharpeyes.maintainer import Maintainer\n", 1, RULE_ROOT),
    ("registry.store", "from events.archive import Archive\n", 1, RULE_ORDER),
    ("analytics.pipeline", "import json, events.publisher\n", 1, RULE_ORDER),
    ("audit.report", "import api\n", 1, RULE_ORDER),
    ("identity.store", "from audit.fourall import build_report\n", 1, RULE_ORDER),
    ("events.archive", "from identity.roles import Principal\n", 1, RULE_ORDER),
    ("ingest.worker", "from analytics import detector\n", 1, RULE_ORDER),
    ("registry.onvif", "class A:\n    def f(self):\n        from ipycam import IPCamera\n", 3, RULE_TESTS),
    ("api.app", "import pytest\n", 1, RULE_TESTS),
    ("sharpeyes.proc", "from tests.support.wait import wait_until\n", 1, RULE_TESTS),
])
def test_checker_reports_a_forbidden_import(module: str, source: str, line: int, rule: str) -> None:
    path = module.replace(".", "/") + ".py"
    violations = check_source(source, module, path)
    assert [(v.line, v.rule) for v in violations] == [(line, rule)], violations
    text = str(violations[0])
    statement = source.splitlines()[line - 1].strip()
    assert text.startswith(f"{path}:{line}: `{statement}` breaks {rule}"), text


@pytest.mark.parametrize(("module", "source"), [
    ("sharpeyes.hub", "from api.app import create_app\nfrom registry.store import Registry\n"),
    ("sharpeyes.cli", "def f():\n    from audit.report import to_csv\n"),
    ("sharpeyes.components", "from events.publisher import EventPublisher\n"),
    ("api.app", "from audit.fourall import build_report\nfrom registry.store import Registry\n"),
    ("api.auth", "from identity.store import IdentityStore\n"),
    ("audit.sources", "from identity.models import User\n"),
    ("identity.store", "from registry.models import Jurisdiction\n"),
    ("analytics.rules", "from registry.rules import RuleConfig\nfrom sharpeyes.schema import Event\n"),
    ("events.publisher", "from . import routing\nfrom .routing import Router\n"),
    ("registry.store", "import sqlalchemy\nfrom sharpeyes import strict\n"),
])
def test_checker_accepts_allowed_imports(module: str, source: str) -> None:
    assert check_source(source, module, "x.py") == []


def test_relative_imports_are_resolved() -> None:
    def targets(source: str, module: str, is_package: bool = False) -> list[str]:
        node = ast.parse(source).body[0]
        assert isinstance(node, ast.ImportFrom)
        return _targets(node, module, is_package)

    assert targets("from ..store import Registry\n", "registry.sub.mod") == ["registry.store",
                                                                             "registry.store.Registry"]
    assert targets("from . import routing\n", "events", is_package=True) == ["events", "events.routing"]
    assert targets("from .hub import Hub\n", "sharpeyes.cli") == ["sharpeyes.hub", "sharpeyes.hub.Hub"]
