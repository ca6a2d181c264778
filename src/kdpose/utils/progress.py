"""Where training stands; passed to every task so that schedules (e.g. DWPose's decaying KD weight) are
explicit functions of it rather than globals."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TrainProgress:
    epoch: int  # 0-based current epoch
    max_epochs: int
    iteration: int = 0  # 0-based global iteration
    max_iterations: int = 0

    @property
    def fraction(self) -> float:
        """Fraction of training done, in [0, 1), by iterations when known, else by epochs."""
        if self.max_iterations > 0:
            return self.iteration / self.max_iterations
        return self.epoch / max(1, self.max_epochs)
