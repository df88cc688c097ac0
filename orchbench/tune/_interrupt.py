"""SIGINT and SIGTERM during a tune: the running trial fails, the study stays resumable.

A signal must not land inside Optuna's own bookkeeping (creating a trial, telling its
result, the callbacks): there it leaves a trial ``RUNNING`` for ever or an Optuna
``UnboundLocalError``. So :class:`StopSignals` raises :class:`Interrupted` at once only
where that is safe — inside the trial function (Optuna marks that trial FAIL) or outside
the search — and elsewhere notes the signal and stops the search after the trial.
Later signals are noted, not raised: the first one's clean-up runs to its end.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any


class Interrupted(KeyboardInterrupt):
    """The tune was stopped by a signal; :attr:`exit_code` is 128 + its number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        """130 for SIGINT, 143 for SIGTERM (the shell's convention)."""
        return 128 + self.signum


def _not_a_stop(record: logging.LogRecord) -> bool:
    """A logging filter: drop records about an :class:`Interrupted` trial."""
    exc = record.exc_info[1] if record.exc_info else None
    return not isinstance(exc, Interrupted) and "Interrupted(" not in record.getMessage()


class StopSignals:
    """Turn SIGINT/SIGTERM into :class:`Interrupted` at safe points (see the module)."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._safe = True
        self._raised = False

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pending is None:
            self.pending = signum
        if self._safe and not self._raised:
            self._raised = True
            raise Interrupted(signum)

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """Handle the signals while the block runs (main thread only; else a no-op)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = {s: signal.signal(s, self._handle) for s in (signal.SIGINT, signal.SIGTERM)}
        # Optuna logs a failed trial with its traceback; a stop is not a failure to show.
        optuna_log = logging.getLogger("optuna.study._optimize")
        optuna_log.addFilter(_not_a_stop)
        try:
            yield self
        finally:
            optuna_log.removeFilter(_not_a_stop)
            for s, handler in previous.items():
                signal.signal(s, handler)

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """A block where a signal is only noted (Optuna's bookkeeping)."""
        safe, self._safe = self._safe, False
        try:
            yield
        finally:
            self._safe = safe
        self.check()

    @contextmanager
    def raising(self) -> Iterator[None]:
        """A block where a signal raises at once (inside the trial function)."""
        self.check()
        safe, self._safe = self._safe, True
        try:
            yield
        finally:
            self._safe = safe

    def check(self) -> None:
        """Raise :class:`Interrupted` now if a signal came meanwhile (once)."""
        if self.pending is not None and not self._raised:
            self._raised = True
            raise Interrupted(self.pending)

    def stop_after_trial(self, study: Any, trial: Any) -> None:
        """An Optuna callback: end the search after this trial when a signal came."""
        if self.pending is not None:
            study.stop()
