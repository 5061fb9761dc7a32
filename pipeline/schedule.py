"""Schedule: when each feed is polled next, from how often it publishes and how it has been failing.

Pure functions of a feed's state and one poll's outcome; `pipeline.run` applies them and `pipeline.feeds`
stores the result.
"""
from __future__ import annotations

import random
import re
import statistics
from dataclasses import dataclass
from datetime import datetime, timedelta

BACKOFF_CAP = timedelta(hours=24)
BACKOFF_BASE = timedelta(minutes=5)
DECLARED_INTERVAL_CAP = timedelta(hours=24)  # a feed cannot ask to be polled less than daily
JITTER = 0.2
RECENT_ENTRIES = 10

# A failure's weight: how strongly it suggests the feed is really gone rather than briefly unwell.
FAILURE_WEIGHTS = {"timeout": 1.0, "connect": 1.0, "protocol": 1.0, "too_large": 1.5, "redirects": 2.0,
                   "dns": 2.0, "refused": 2.0, "parse": 2.0}
STATUS_WEIGHTS = {404: 2.0, 401: 2.0, 403: 2.0, 451: 2.0}
DEFAULT_STATUS_WEIGHT = 1.0

MAX_AGE = re.compile(r"(?:^|,)\s*(?:s-maxage|max-age)\s*=\s*\"?(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class ScheduleSettings:
    min_interval: timedelta = timedelta(minutes=5)
    max_interval: timedelta = timedelta(hours=6)


def failure_weight(kind: str | None = None, status: int | None = None) -> float:
    if status is not None:
        return STATUS_WEIGHTS.get(status, DEFAULT_STATUS_WEIGHT)
    return FAILURE_WEIGHTS.get(kind or "", 1.0)


def backoff_delay(failure_score: float, rng: random.Random | None = None) -> timedelta:
    """Exponential in the weighted failure score, with +-20% jitter, never above BACKOFF_CAP."""
    exponent = min(max(failure_score - 1.0, 0.0), 20.0)
    delay = min(BACKOFF_BASE * (2 ** exponent), BACKOFF_CAP)
    return min(delay * (rng or random).uniform(1 - JITTER, 1 + JITTER), BACKOFF_CAP)


def publishing_interval(published: list[datetime | None], settings: ScheduleSettings) -> timedelta | None:
    """Half the median gap between the newest entries' dates, within min/max; None without two dates."""
    dates = sorted({d for d in published if d is not None}, reverse=True)[:RECENT_ENTRIES]
    if len(dates) < 2:
        return None
    gap = statistics.median((a - b) for a, b in zip(dates, dates[1:]))
    return clamp(gap / 2, settings.min_interval, settings.max_interval)


def clamp(value: timedelta, low: timedelta, high: timedelta) -> timedelta:
    return max(low, min(value, high))


def max_age(headers: list[tuple[str, str]]) -> timedelta | None:
    for name, value in headers:
        if name.lower() == "cache-control":
            match = MAX_AGE.search(value)
            if match:
                return timedelta(seconds=int(match.group(1)))
    return None


def next_poll_interval(interval: timedelta, declared_floors: list[timedelta | None]) -> timedelta:
    """The adaptive interval, raised to what the feed and its server declare (each capped at a day)."""
    floors = [min(floor, DECLARED_INTERVAL_CAP) for floor in declared_floors if floor]
    return max([interval, *floors])

