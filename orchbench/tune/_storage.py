"""Where a study lives: SQLite, a journal file, or a database server such as PostgreSQL.

Every RDB storage (SQLite, PostgreSQL, MySQL) runs Optuna's heartbeat: a worker's running
trial records a heartbeat every ``heartbeat_s`` seconds, and a trial silent for longer
than the grace period (a worker killed, a machine gone) is failed by the next worker that
looks and queued again (``RetryHeartbeatStaleTrialCallback``). A journal file has no
heartbeat; there, and for a quick restart on the same machine, :func:`fail_dead_trials`
fails the running trials of processes on this machine that no longer exist.

URLs are shown redacted everywhere (:func:`storage_label`): ``postgresql://***@host/db``.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchbench.errors import ConfigError, redact

if TYPE_CHECKING:
    import optuna
    from optuna.trial import FrozenTrial

DEFAULT_TUNING_DIR = Path("results") / "tuning"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
DEFAULT_HEARTBEAT_S = 10
MAX_RETRY = 2
"""How often a trial whose worker died is queued again (then it stays failed)."""

_HINT = (
    "valid: an Optuna storage URL such as sqlite:///results/tuning/x.db or "
    "postgresql://user:pw@host/db, or a file path (.db for SQLite, else a journal file)"
)


def storage_url_for(spec: str | None, study_name: str) -> str:
    """The storage a spec names: a URL as is, a path as SQLite or a journal file."""
    if spec is None:
        return str(DEFAULT_TUNING_DIR / f"{study_name}.db")
    return spec


def storage_label(spec: str | None, study_name: str) -> str:
    """The storage as shown to people and written to files: credentials masked."""
    return redact(storage_url_for(spec, study_name))


def grace_period_s(heartbeat_s: int) -> int:
    """How long a running trial may stay silent before it counts as dead."""
    return max(3 * heartbeat_s, heartbeat_s + 2)


def open_storage(spec: str, heartbeat_s: int = DEFAULT_HEARTBEAT_S) -> optuna.storages.BaseStorage:
    """Open an Optuna storage from a URL (``sqlite:///x.db``, ``postgresql://…``) or a path.

    A path ending in ``.db``/``.sqlite`` is SQLite; any other path is a journal file
    (``JournalStorage(JournalFileBackend(path))``), which several processes may share.
    Raises ConfigError with the reason (credentials masked) when it cannot be opened.
    """
    import optuna
    from optuna.storages.journal import JournalFileBackend

    url = spec
    try:
        if "://" not in spec:
            path = Path(spec)
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.suffix.lower() not in SQLITE_SUFFIXES:
                return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
            url = f"sqlite:///{path}"
        return _open_rdb(driver_url(url), heartbeat_s)
    except Exception as exc:  # sqlalchemy/driver errors have no common base worth naming
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(
            redact(f"--storage {spec!r} cannot be opened: {reason}; {_HINT}")
        ) from None


def driver_url(url: str) -> str:
    """``url`` with a PostgreSQL driver that is installed.

    SQLAlchemy 2.1 reads a bare ``postgresql://`` as psycopg 3; orchbench's ``postgres``
    extra installs psycopg2 (``psycopg2-binary``), so a bare URL uses whichever is there.
    """
    import importlib.util

    bare = next((b for b in ("postgresql://", "postgres://") if url.startswith(b)), None)
    if bare is None or importlib.util.find_spec("psycopg") is not None:
        return url
    if importlib.util.find_spec("psycopg2") is None:
        return url  # SQLAlchemy then says which driver is missing
    return "postgresql+psycopg2://" + url[len(bare) :]


def _open_rdb(url: str, heartbeat_s: int, attempts: int = 5) -> optuna.storages.RDBStorage:
    import optuna
    import sqlalchemy.exc

    kwargs: dict[str, Any] = {
        "heartbeat_interval": heartbeat_s,
        "grace_period": grace_period_s(heartbeat_s),
    }
    if url.startswith("sqlite"):
        # Two workers on one SQLite file wait for each other's locks instead of failing.
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    for attempt in range(attempts):
        try:
            with warnings.catch_warnings():  # heartbeats are "experimental" in Optuna 5
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return optuna.storages.RDBStorage(
                    url, heartbeat_stale_trial_callback=retry_callback(), **kwargs
                )
        except sqlalchemy.exc.DBAPIError as exc:
            # Workers starting together race to create the schema; the loser finds the
            # tables made by the winner and simply opens them on the next try.
            racing = any(m in str(exc) for m in ("already exists", "UNIQUE constraint", "locked"))
            if not racing or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def has_heartbeat(storage: optuna.storages.BaseStorage) -> bool:
    """Whether ``storage`` fails silent trials by itself (Optuna's heartbeat)."""
    from optuna.storages._heartbeat import is_heartbeat_enabled

    return is_heartbeat_enabled(storage)


def fail_dead_trials(study: optuna.Study, hostname: str) -> list[int]:
    """Fail the running trials whose worker is gone, queue them again; their numbers.

    Heartbeat storages: Optuna's stale-trial check. Every storage: trials that this
    machine's processes ran (user attrs ``hostname``/``pid``/``pid_started``) whose process
    no longer exists — a restart after a crash need not wait out the grace period.
    """
    import optuna
    from optuna.trial import TrialState

    before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
    if has_heartbeat(study._storage):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial.user_attrs.get("hostname") == hostname and not _alive(trial):
            _fail_and_retry(study, trial)
    after = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
    return sorted(t.number for t in after if t.number not in before)


def _alive(trial: FrozenTrial) -> bool:
    import psutil

    pid, started = trial.user_attrs.get("pid"), trial.user_attrs.get("pid_started")
    if not isinstance(pid, int):
        return True  # not ours to judge
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # ended, not yet reaped
            return False
        return started is None or abs(process.create_time() - float(started)) < 1.0
    except psutil.Error:
        return False


def _fail_and_retry(study: optuna.Study, trial: FrozenTrial) -> None:
    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    try:
        storage.set_trial_user_attr(trial._trial_id, "error", "its worker died")
        changed = storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    except UpdateFinishedTrialError:  # another worker got there first
        return
    if changed:
        retry_callback()(study, storage.get_trial(trial._trial_id))


WORKER_ATTRS = ("hostname", "pid", "pid_started", "worker", "engine", "error")
"""User attributes that describe who ran a trial, not what it is."""


def retry_callback() -> Any:
    """Optuna's ``RetryHeartbeatStaleTrialCallback``: a dead worker's trial runs again (at
    most :data:`MAX_RETRY` times), without the dead worker's identity."""
    import copy

    import optuna

    with warnings.catch_warnings():  # "experimental" in Optuna 5
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        base = optuna.storages.RetryHeartbeatStaleTrialCallback

        class _Retry(base):  # type: ignore[misc, valid-type]
            def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
                clean = copy.deepcopy(trial)
                clean.user_attrs = {
                    k: v for k, v in trial.user_attrs.items() if k not in WORKER_ATTRS
                }
                super().__call__(study, clean)

        return _Retry(max_retry=MAX_RETRY)
