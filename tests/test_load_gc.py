"""How `load_plan` treats the cyclic garbage collector: off while loading, restored after, the
loaded objects moved to the oldest generation (so no pass walks them while they are young),
and what the program froze itself left frozen."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from planspec.load import load_plan

PLAN = "plans/rental_inspector.plan"


@pytest.fixture()
def clean_gc() -> Iterator[None]:
    enabled = gc.isenabled()
    yield
    gc.unfreeze()
    (gc.enable if enabled else gc.disable)()


def test_collector_restored_and_young_generation_emptied(clean_gc: None) -> None:
    gc.enable()
    parsed = load_plan(PLAN)
    assert parsed.plan is not None
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0
    assert gc.get_count()[0] < 100  # the load's objects are not waiting for a young pass


def test_collector_left_off_when_it_was_off(clean_gc: None) -> None:
    gc.disable()
    load_plan(PLAN)
    assert not gc.isenabled()


def test_restored_after_an_error(clean_gc: None, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object) -> list[object]:
        raise RuntimeError("a bug in a check")

    monkeypatch.setattr("planspec.load.check_plan", broken)
    gc.enable()
    with pytest.raises(RuntimeError):
        load_plan(PLAN)
    assert gc.isenabled()
    assert gc.get_freeze_count() == 0


def test_what_the_program_froze_stays_frozen(clean_gc: None) -> None:
    gc.enable()
    gc.freeze()
    frozen = gc.get_freeze_count()
    load_plan(PLAN)
    assert gc.get_freeze_count() == frozen
    assert gc.isenabled()
