"""`orchbench tune` as one worker of a study: its search, its helpers, who writes the result.

`--workers N` runs N worker processes on one study.

The process the user started is worker 0; it starts workers 1..N-1 as
``python -m orchbench tune …`` with the same options, the study and storage made
explicit, ``--worker-index I`` (a sampler seed of its own, and search only: a helper
never ranks, verifies or writes) and quiet progress. When its own search ends it waits
for the helpers, then ranks, verifies and writes the tuned profile once. A signal to
worker 0 is passed on to the helpers, so Ctrl-C or ``kill`` stops them all.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import optuna
    from rich.console import Console

    from orchbench.config import Profile
    from orchbench.tune import Evaluator, StudySpec

_DROPPED = {"--workers": 1, "--force": 0, "--finish": 0}
"""Options worker 0 keeps for itself, with how many values follow each."""


def helper_argv(argv: Sequence[str], study: str, storage: str, index: int) -> list[str]:
    """The command line of helper ``index``: ``argv`` without worker 0's own options."""
    kept: list[str] = []
    skip = 0
    for arg in argv:
        if skip:
            skip -= 1
            continue
        name = arg.split("=", 1)[0]
        if name in _DROPPED:
            skip = 0 if "=" in arg else _DROPPED[name]
            continue
        kept.append(arg)
    extra = ["--study", study, "--storage", storage, "--worker-index", str(index)]
    return [sys.executable, "-m", "orchbench", *kept, *extra]


@dataclass
class Helpers:
    """The helper worker processes of one ``tune --workers N``."""

    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @classmethod
    def start(cls, argv: Sequence[str], study: str, storage: str, count: int) -> Helpers:
        """Start ``count`` helpers (indices 1..count); their output goes to this stderr."""
        helpers = cls()
        for index in range(1, count + 1):
            command = helper_argv(argv, study, storage, index)
            helpers.processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL))
        return helpers

    def wait(self) -> list[int]:
        """Wait for every helper; their exit codes."""
        return [p.wait() for p in self.processes]

    def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 30.0) -> None:
        """Pass ``signum`` on to the helpers still running and wait for them (kill late ones)."""
        for p in self.processes:
            if p.poll() is None:
                p.send_signal(signum)
        for p in self.processes:
            try:
                p.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def interrupted_line(signame: str, study: str, storage: str) -> str:
    """What a tune stopped by a signal says (one line, no traceback)."""
    return (
        f"interrupted by {signame}: the running trial is marked failed; study {study!r} in "
        f"{storage} keeps every trial, the same command resumes it"
    )


def search(
    source: Profile,
    evaluator: Evaluator,
    spec: StudySpec,
    console: Console,
    helpers: Helpers,
    *,
    quiet: bool,
) -> optuna.Study | None:
    """This worker's part of the search; the study when this worker writes the result."""
    from orchbench.tune import SearchSpace, run_study
    from orchbench.tune._display import TuneDisplay
    from orchbench.tune._workers import WorkerIdentity, should_finish, trials_per_worker

    space = SearchSpace.from_profile(source)
    if not space.params:
        from orchbench.errors import ConfigError

        raise ConfigError(f"profile {source.name!r} leaves nothing to tune (every range is 1)")
    if quiet or spec.trials == 0:
        study = run_study(source, space, evaluator, spec)
    else:
        with TuneDisplay(list(spec.objectives), spec.trials, console=console) as display:
            study = run_study(source, space, evaluator, replace(spec, callbacks=(display,)))
    codes = helpers.wait()
    for index, code in enumerate(codes, start=1):
        if code != 0:
            console.print(f"[yellow]worker w{index} ended with exit code {code}[/yellow]")
    per_worker = trials_per_worker(study)
    if len(per_worker) > 1 and not quiet:
        shown = ", ".join(f"{w}: {n}" for w, n in per_worker.items())
        console.print(f"complete trials per worker: {shown}", highlight=False)
    me = WorkerIdentity.here(evaluator.backend, spec.worker)
    target = study.user_attrs.get("target_complete") if spec.trials else None
    if quiet:
        return None
    if helpers.processes or spec.trials == 0 or should_finish(study, me, target):
        return study
    console.print(
        f"study {spec.study_name!r} is complete; the worker that completed its last trial "
        "writes the tuned profile (or run this command with --finish)"
    )
    return None
