"""The floors of the house (README, "Architecture"): every import, at the top of a module or inside a
function, goes to the module's own floor or below, and only `bot/` touches a platform library."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FLOORS = {"core": 0, "storage": 1, "handlers": 2, "scheduler": 2, "reports": 2, "bot": 3}
PLATFORM_LIBRARIES = {"telegram", "slack_bolt", "slack_sdk", "aiohttp"}


@dataclass(frozen=True)
class Import:
    module: str  # e.g. storage/outbox.py
    line: int
    target: str  # e.g. handlers.types


def imports_of(path: Path) -> list[Import]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    name = str(path.relative_to(ROOT))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(name, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(Import(name, node.lineno, node.module))
            # `from core import calendar` imports core.calendar: the floor is the same either way.
    return found


def every_import() -> list[Import]:
    result: list[Import] = []
    for package in FLOORS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            result += imports_of(path)
    return result


def upward(imports: list[Import]) -> list[str]:
    problems = []
    for imp in imports:
        own = FLOORS[imp.module.split("/", 1)[0]]
        top = imp.target.split(".", 1)[0]
        if top in FLOORS and FLOORS[top] > own:
            problems.append(f"{imp.module}:{imp.line} imports {imp.target} (floor {FLOORS[top]} above {own})")
        if top in PLATFORM_LIBRARIES and own < FLOORS["bot"]:
            problems.append(f"{imp.module}:{imp.line} imports the platform library {imp.target}")
    return problems


def test_no_module_imports_from_a_floor_above_its_own() -> None:
    imports = every_import()
    assert len(imports) > 300  # the walk really read the tree
    assert upward(imports) == []


def test_storage_imports_no_conversation_scheduler_or_report_code() -> None:
    wrong = [
        f"{i.module}:{i.line} imports {i.target}"
        for i in every_import()
        if i.module.startswith("storage/") and i.target.split(".", 1)[0] in {"handlers", "scheduler", "reports"}
    ]
    assert wrong == []


@pytest.mark.parametrize(
    ("module", "target", "bad"),
    [
        ("storage/outbox.py", "handlers.types", True),
        ("scheduler/service.py", "bot.channels.email", True),
        ("handlers/engine.py", "telegram", True),
        ("core/settings.py", "storage.db", True),
        ("bot/runner.py", "scheduler.service", False),
        ("handlers/report.py", "reports.build", False),
    ],
)
def test_the_check_itself_tells_up_from_down(module: str, target: str, bad: bool) -> None:
    assert bool(upward([Import(module, 1, target)])) is bad
