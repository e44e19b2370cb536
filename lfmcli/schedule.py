"""The learning-rate schedule of `training.schedule=cosine`, as a pure function of the training's progress."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class CosineSchedule:
    """A linear warm-up over ``warmup_steps``, then a cosine decay from ``lr`` to ``min_lr``."""

    lr: float
    min_lr: float
    warmup_steps: int

    def lr_at(self, step: int, progress: float) -> float:
        """The learning rate of step ``step`` (0-based) when ``progress`` (0..1, the larger of the step and time
        budgets used) of the training has run."""
        lr = self.min_lr + (self.lr - self.min_lr) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
        return lr * min(1.0, (step + 1) / max(self.warmup_steps, 1))
