"""Regression tests for the decision defects of issue #10: firing persistence, constant columns,
missing outcomes, `bound` units, `min_samples`, class predictions; each named after its defect."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from planspec.engine import fire


def _reference_fire(levels: list[int], for_: int, keep: int) -> list[int]:
    """The documented rule, read literally: level L fires at window i when some window j <= i
    ends `for_` consecutive judged windows at or above L, and no run of more than `keep`
    consecutive judged windows below L lies between j and i. The highest such L is reported."""
    judged = [i for i, lvl in enumerate(levels) if lvl >= 0]
    out = []
    for i in range(len(levels)):
        upto = [k for k in judged if k <= i]
        best = 0
        for level in (1, 2):
            for pos in range(len(upto)):
                window = upto[max(0, pos - for_ + 1): pos + 1]
                if len(window) < for_ or any(levels[k] < level for k in window):
                    continue
                run = longest = 0
                for k in upto[pos + 1:]:
                    run = run + 1 if levels[k] < level else 0
                    longest = max(longest, run)
                if longest <= keep:
                    best = level
                    break
        out.append(best)
    return out


def test_for_keep_firing_for_does_not_resolve_on_a_failing_window() -> None:
    # fail fail ok fail ok ok, for 2, keep 1 → – fail fail fail fail –
    assert fire([2, 2, 0, 2, 0, 0], 2, 1) == [0, 2, 2, 2, 2, 0]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([-1, 0, 1, 2]), max_size=14), st.integers(1, 4),
       st.integers(0, 3))
def test_firing_state_machine_matches_the_documented_rule(levels: list[int], for_: int,
                                                          keep: int) -> None:
    assert fire(levels, for_, keep) == _reference_fire(levels, for_, keep)
