from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-goldens", action="store_true",
                     help="rewrite golden files under tests/golden/ from the current output")


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def update_goldens(request: pytest.FixtureRequest) -> bool:
    return bool(request.config.getoption("--update-goldens"))


#: Modules whose tests take longest (a year of nightly store runs, the bench's smoke run, the
#: README's demo): scheduled first, so under `-n auto --dist loadscope` they do not start last
#: and leave one worker running alone at the end.
FIRST = ("test_store.py", "test_bench.py", "test_readme.py", "test_plan_dsl.py",
         "test_properties.py", "test_segments.py", "test_segments_live.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))  # stable: order kept
