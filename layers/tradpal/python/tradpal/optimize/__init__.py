"""Parameter sweeps and walk-forward analysis."""

from __future__ import annotations

from tradpal.errors import OptimizeError
from tradpal.optimize.objectives import OBJECTIVES, best_index, check_objective, scores
from tradpal.optimize.stability import Stability, stability
from tradpal.optimize.sweep import best, sweep
from tradpal.optimize.walkforward import WalkForwardResult, WindowResult, walk_forward
from tradpal.optimize.windows import Window, WindowPlan, plan_windows

__all__ = [
    "OBJECTIVES",
    "OptimizeError",
    "Stability",
    "WalkForwardResult",
    "Window",
    "WindowPlan",
    "WindowResult",
    "best",
    "best_index",
    "check_objective",
    "plan_windows",
    "scores",
    "stability",
    "sweep",
    "walk_forward",
]
