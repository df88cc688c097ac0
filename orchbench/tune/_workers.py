"""Several workers on one study: who measured what, how many trials, who writes the result.

A study run by several workers (processes or machines opening the same storage and study
name) aims at a number of COMPLETE trials, its *target*, kept in the study itself
(``user_attrs["target_complete"]``): the first worker of a round sets it to the trials
complete so far plus ``--trials``; a worker joining a round in progress adopts it.

The target is met exactly, not overshot by the workers' last trials: before measuring,
a trial waits for its turn (:func:`wait_for_turn`) — it goes ahead only while the trials
complete plus the running trials numbered before it are fewer than the target. Trial
numbers are given out by the storage, so two trials never both take the last place. A
trial that finds the target met is pruned (never COMPLETE) and its worker stops; one that
finds a queued trial waiting (the retry of a dead worker's trial, the baseline) is pruned
too, before it samples anything, so that the queued one runs next; one that sampled the
point an earlier running trial is measuring waits for it and reuses its numbers
(:func:`wait_for_twin`).

Each trial records its worker (:class:`WorkerIdentity`: host name, pid, worker id and
engine). The worker whose trial completed last writes the tuned profile
(:func:`finisher`); the others say so and stop.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

POLL_S = 0.25
"""How often a waiting trial looks at the study again."""


@dataclass(frozen=True, slots=True)
class WorkerIdentity:
    """Which machine and process measured a trial."""

    hostname: str
    pid: int
    pid_started: float
    worker: str
    engine: str

    @classmethod
    def here(cls, engine: str, worker: str | None = None) -> WorkerIdentity:
        """This process on this machine; ``worker`` defaults to ``HOST:PID``."""
        import psutil

        host, pid = socket.gethostname(), os.getpid()
        started = psutil.Process(pid).create_time()
        return cls(host, pid, started, worker or f"{host}:{pid}", engine)

    def attrs(self) -> dict[str, Any]:
        """The trial user attributes that name this worker."""
        return {
            "hostname": self.hostname,
            "pid": self.pid,
            "pid_started": self.pid_started,
            "worker": self.worker,
            "engine": self.engine,
        }

    def ran(self, trial: FrozenTrial) -> bool:
        """Whether this worker ran ``trial``."""
        attrs = trial.user_attrs
        return attrs.get("hostname") == self.hostname and attrs.get("pid") == self.pid


def round_target(study: optuna.Study, trials: int, *, join_only: bool = False) -> int:
    """The COMPLETE trials this round of the study aims at (see the module docstring).

    ``join_only`` (a helper started by ``tune --workers N``): never start a new round —
    when the round it was started for is already over, its target stands (met), so the
    helper runs no trial.
    """
    complete = _count_complete(study)
    stored = study.user_attrs.get("target_complete")
    if isinstance(stored, int) and (complete < stored or join_only):
        return stored
    target = complete + trials
    study.set_user_attr("target_complete", target)
    return target


def _count_complete(study: optuna.Study) -> int:
    from optuna.trial import TrialState

    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


class TargetMet(Exception):
    """The study already has its target of complete trials: this trial is not needed."""


class Yield(Exception):
    """A queued trial is waiting: this one steps aside (pruned) so that it runs next."""


def wait_for_turn(
    trial: optuna.Trial,
    target: int,
    tidy: Callable[[], object],
    poll_s: float = POLL_S,
) -> None:
    """Return when ``trial`` may be measured; raise :class:`TargetMet` when it is not
    needed, :class:`Yield` when a queued trial should run first.

    ``tidy`` is called on every look (it fails the trials of dead workers, so a waiting
    trial takes over the place of one that will never finish).
    """
    from optuna.trial import TrialState

    while True:
        tidy()
        trials = trial.study.get_trials(deepcopy=False)
        complete = sum(t.state == TrialState.COMPLETE for t in trials)
        if complete >= target:
            raise TargetMet(f"the study has its {target} complete trials")
        queued = any(t.state == TrialState.WAITING for t in trials)
        if queued and not _is_queued(trial, trials):
            raise Yield("a queued trial (a retry, the baseline) goes first")
        ahead = sum(t.state == TrialState.RUNNING and t.number < trial.number for t in trials)
        if complete + ahead < target:
            return
        time.sleep(poll_s)


CHOSEN = "params_chosen"
"""The user attribute a trial sets once all its parameters are stored."""


def wait_for_twin(
    trial: optuna.Trial,
    params: dict[str, Any],
    tidy: Callable[[], object],
    poll_s: float = POLL_S,
) -> None:
    """Return when no earlier running trial has exactly ``params`` or is still choosing.

    Two workers may sample the same point at once (or both queue the baseline): the later
    trial waits for the earlier one and then reuses its measurement instead of measuring
    the same configuration a second time. As in Lamport's bakery, the trial number is the
    ticket: a trial also waits while an earlier one has not finished choosing its
    parameters (they are stored one by one; :data:`CHOSEN` marks the end), else the
    earlier one could pick the same point after this one looked and measure it again.
    """
    from optuna.trial import TrialState

    trial.set_user_attr(CHOSEN, True)
    while True:
        tidy()
        running = trial.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        earlier = [t for t in running if t.number < trial.number]
        if not any(t.params == params or not t.user_attrs.get(CHOSEN) for t in earlier):
            return
        time.sleep(poll_s)


def _is_queued(trial: optuna.Trial, trials: list[FrozenTrial]) -> bool:
    """Whether ``trial`` was queued (its parameters fixed in advance)."""
    mine = next((t for t in trials if t.number == trial.number), None)
    return mine is not None and (bool(mine.params) or "fixed_params" in mine.system_attrs)


def finisher(study: optuna.Study) -> FrozenTrial | None:
    """The complete trial that finished last: its worker writes the tuned profile."""
    from optuna.trial import TrialState

    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    stamped = [t for t in done if t.datetime_complete is not None]
    if not stamped:
        return None
    return max(stamped, key=lambda t: (t.datetime_complete, t.number))


def others_running(study: optuna.Study, me: WorkerIdentity) -> bool:
    """Whether trials of other workers are still running in ``study``."""
    from optuna.trial import TrialState

    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    return any(not me.ran(t) for t in running)


def should_finish(study: optuna.Study, me: WorkerIdentity, target: int | None) -> bool:
    """Whether this worker, its search over, ranks, verifies and writes the tuned profile.

    Without a target (a search bounded by time only) and when the target was not met and
    no other worker is running, this worker does (as a tune alone always has). When the
    target was met, the worker whose trial completed last does.
    """
    if target is None:
        return True
    if _count_complete(study) < target:
        return not others_running(study, me)
    last = finisher(study)
    return last is None or me.ran(last)


def trials_per_worker(study: optuna.Study) -> dict[str, int]:
    """Complete trials by worker id (``?`` for trials that name none)."""
    from optuna.trial import TrialState

    counts: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
        key = str(t.user_attrs.get("worker", "?"))
        counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items()))
