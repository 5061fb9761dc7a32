"""SIGINT and SIGTERM as an exception, so a batch can release its claims and record itself as interrupted."""
from __future__ import annotations

import signal
from typing import NoReturn


class Interrupted(BaseException):
    """The process was asked to stop. A BaseException, like KeyboardInterrupt, so `except Exception` blocks that
    record one entry's failure let it through; unlike KeyboardInterrupt, click does not turn it into "Aborted!"."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """130 for SIGINT, 143 for SIGTERM: the shell's 128 + signal number."""
        return 128 + self.signum


def raise_on_stop_signals() -> None:
    """From now on, SIGINT and SIGTERM raise Interrupted in the main thread (once: cleanup is not cut short)."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)


def _interrupt(signum: int, frame: object) -> NoReturn:
    for each in (signal.SIGINT, signal.SIGTERM):
        signal.signal(each, signal.SIG_IGN)
    raise Interrupted(signum)
