"""Checks on where a verb will write, made before any work starts.

A run or a search that ends by failing to write its result has wasted its time: these
checks refuse, as bad input (exit 2), an output that cannot work — a file where a folder
is wanted (or the reverse), a parent that is a file or not writable, a storage that is
neither a known URL scheme nor a usable path. They create nothing.

>>> check_out_dir(Path("results"), "--out")          # doctest: +SKIP
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from orchbench.errors import ConfigError

STORAGE_SCHEMES = ("sqlite", "postgresql", "postgres", "mysql", "oracle", "mssql")
"""URL schemes Optuna's RDB storage (SQLAlchemy) takes, optionally with ``+driver``."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def _nearest_existing(path: Path) -> Path:
    current = path.absolute()
    while not current.exists() and current != current.parent:
        current = current.parent
    return current


def _check_parent(path: Path, option: str, what: str) -> None:
    """The nearest existing folder above ``path`` is a writable folder."""
    existing = _nearest_existing(path.parent if what == "file" else path)
    if not existing.is_dir():
        raise ConfigError(
            f"{option} {str(path)!r}: {str(existing)!r} is a file, so no {what} can be made "
            "under it; give a path in a folder"
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ConfigError(
            f"{option} {str(path)!r}: folder {str(existing)!r} is not writable; give a "
            "folder you can write into"
        )


def check_out_dir(path: Path, option: str = "--out") -> None:
    """``path`` is, or can be made as, a folder this process can write into."""
    if path.exists() and not path.is_dir():
        raise ConfigError(
            f"{option} {str(path)!r} is a file; {option} is a folder to write into "
            "(it is made when missing)"
        )
    _check_parent(path, option, "folder")


def check_out_file(path: Path, option: str) -> None:
    """``path`` is, or can be made as, a file: not a folder, in a writable folder."""
    if path.is_dir():
        raise ConfigError(f"{option} {str(path)!r} is a folder; give the path of a file")
    _check_parent(path, option, "file")


def check_storage(spec: str, option: str = "--storage") -> None:
    """An Optuna storage spec is a URL of a known scheme or a usable file path.

    Valid: ``sqlite:///x.db``, ``postgresql[+driver]://…``, ``mysql[+driver]://…``, or a
    path (``.db``/``.sqlite``: SQLite, else a journal file). Something with a colon that is
    not ``scheme://`` (``'::::'``, ``'postgresql:/x'``) is refused rather than taken as a
    file name.
    """
    valid = (
        "valid: sqlite:///path.db, postgresql://host/db, mysql://host/db, or a file path "
        "(.db for SQLite, else a journal file)"
    )
    if not spec.strip():
        raise ConfigError(f"{option} is empty; {valid}")
    match = _SCHEME.match(spec)
    if match:
        scheme = match.group(1).split("+", 1)[0].lower()
        if scheme not in STORAGE_SCHEMES:
            raise ConfigError(
                f"{option} {spec!r} cannot be opened: unknown URL scheme {scheme!r}; {valid}"
            )
        return
    if ":" in spec or any(ord(c) < 32 for c in spec):
        raise ConfigError(
            f"{option} {spec!r} cannot be opened: neither a storage URL (scheme://…) nor a "
            f"plain path; {valid}"
        )
    check_out_file(Path(spec), option)


def check_outputs(target: Path, storage: str | None) -> None:
    """``orchbench tune``'s outputs, before the search: the tuned profile's path (a file in
    a writable folder) and the storage (a known URL scheme or a usable path)."""
    check_out_file(target, "--out")
    if storage is not None:
        check_storage(storage)


def check_pick(pick: int, complete: int, trials: int | None) -> None:
    """``tune --pick N`` before the search: the ranking holds at most the study's
    ``complete`` trials plus the ``trials`` this search adds (``None``: bounded by time
    only, so any pick may exist)."""
    if trials is None or pick < complete + trials:
        return
    most = complete + trials
    ranks = f"0..{most - 1}" if most else "none"
    raise ConfigError(
        f"--pick {pick}: this tune ranks at most {most} configuration(s) ({complete} already "
        f"in the study + {trials} to search), so valid picks are {ranks}"
    )
