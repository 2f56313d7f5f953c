"""The engine, in three stages over per-bucket sums: gather (rows → sums), windows (sums →
statistics per window) and judge (statistics → levels and firing), with run-time actions after.
``run_program`` drives them."""

from __future__ import annotations

from planspec.engine.judge import adjust, fire
from planspec.engine.run import run_program

__all__ = ["adjust", "fire", "run_program"]
