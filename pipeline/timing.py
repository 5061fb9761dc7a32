"""Seconds spent per stage, added up over a batch so the next bottleneck is plain (`ingest_runs.stage_seconds`)."""
from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager
from typing import Iterator


class StageClock:
    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)

    @contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] += time.perf_counter() - started

    def take(self) -> dict[str, float]:
        """The seconds measured since the last take, and start again from zero."""
        taken = dict(self.seconds)
        self.seconds.clear()
        return taken
