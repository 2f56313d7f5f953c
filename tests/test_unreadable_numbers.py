"""The quick look that spares a valid plan the second search for numbers validation read as not
finite or out of range (`planspec.source.may_hold_unreadable_numbers`): it may say yes too
often, never no to a text holding such a number."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from planspec.source import may_hold_unreadable_numbers

ALPHABET = "0123456789._eE+- infatyINFATY١"
_READERS = (TypeAdapter(float), TypeAdapter(int), float, int)


def _unreadable(text: str) -> bool:
    """Whether some reader of numbers (pydantic's, Python's) reads ``text`` as a number that is
    not finite or beyond 10**18."""
    for read in _READERS:
        try:
            value = read.validate_python(text) if isinstance(read, TypeAdapter) else read(text)
        except Exception:  # not a number to this reader
            continue
        if isinstance(value, float) and not math.isfinite(value):
            return True
        if isinstance(value, int) and abs(value) > 10**18:
            return True
    return False


@settings(max_examples=3000, deadline=None, derandomize=True)
@given(st.text(ALPHABET, max_size=14), st.integers(0, 24))
def test_never_misses_a_number_read_as_unreadable(text: str, nines: int) -> None:
    text = "9" * nines + text
    if _unreadable(text):
        assert may_hold_unreadable_numbers(f"threshold: '{text}'\n")


def test_known_forms_and_ordinary_plans() -> None:
    for text in ("1e400", "1.e400", "2.E-999", "-Infinity", ".NaN", "N_aN", "1" * 20,
                 "1_000_000_000_000_0", "'1e400'  # café", "١" * 20):
        assert may_hold_unreadable_numbers(f"x: {text}"), text
    for text in ("mean(price) shift > 2 sd", "id: drift_1", "dominant feed", "info", "1e30",
                 "123456789", "range_1000", "café – 1…2"):
        assert not may_hold_unreadable_numbers(f"x: {text}"), text
