"""How long a training (or an evaluation) took, in the fields every ``train_summary.json`` carries: wall seconds,
CPU minutes, and when it started and finished (Unix seconds, which the tracking store uses as the run's start
and end)."""

from __future__ import annotations

import time


class Stopwatch:
    """Started when made; :meth:`record` reads it."""

    def __init__(self) -> None:
        self.started_at = time.time()
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def record(self, task: str = "train") -> dict[str, float]:
        """``<task>_seconds`` (wall), ``<task>_cpu_minutes`` (this process), ``started_at`` and ``finished_at``."""
        return {
            f"{task}_seconds": time.perf_counter() - self._wall,
            f"{task}_cpu_minutes": (time.process_time() - self._cpu) / 60,
            "started_at": self.started_at,
            "finished_at": time.time(),
        }
