"""Writing the tuned profile: the full profile with tuned values and a ``[tuned]`` table.

The file is ``NAME.tuned.toml`` written atomically (``orchbench.profiles.save_profile``)
where ``load_profile("NAME.tuned")`` finds it: in the ``out`` folder when one is given (the
same meaning as ``orchbench run --out``: a folder to write into), else next to the source
profile when that folder is on the profile search path and is not the read-only set
shipped with orchbench, otherwise in ``./profiles``. The source profile is never touched,
and an existing tuned profile is replaced only when asked (``force``).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from orchbench.config import Profile
from orchbench.errors import ConfigError, ProfileError
from orchbench.profiles import (
    PROFILE_SUFFIX,
    bundled_profiles_dir,
    find_profile,
    save_profile,
    search_path,
)
from orchbench.tune._space import apply_params

TUNED_SUFFIX = ".tuned"


def tuned_name(profile_name: str) -> str:
    """``rtx4090`` → ``rtx4090.tuned`` (a tuned profile tuned again keeps its name)."""
    return profile_name if profile_name.endswith(TUNED_SUFFIX) else profile_name + TUNED_SUFFIX


def tuned_path(source: str | Path, profile_name: str, out: str | Path | None = None) -> Path:
    """Where the tuned profile of ``source`` (a profile name or path) is written.

    ``out`` (a folder) wins when given. Raises ConfigError rather than overwrite the source.
    """
    name = tuned_name(profile_name)
    try:
        src: Path | None = find_profile(source).resolve()
    except ProfileError:
        src = None
    if out is not None:
        if Path(out).suffix == PROFILE_SUFFIX or Path(out).is_file():
            raise ConfigError(
                f"--out {str(out)!r}: --out is a folder (as for `orchbench run`); the tuned "
                f"profile is written into it as {name}{PROFILE_SUFFIX}"
            )
        path = Path(out) / f"{name}{PROFILE_SUFFIX}"
    else:
        folder = Path.cwd() / "profiles"
        if src is not None:
            on_path = any(_same_dir(src.parent, d) for d in search_path())
            shipped = _same_dir(src.parent, bundled_profiles_dir())
            explicit = Path(str(source)).suffix == PROFILE_SUFFIX
            if (on_path and not shipped) or explicit:
                folder = src.parent
        path = folder / f"{name}{PROFILE_SUFFIX}"
    if src is not None and path.resolve() == src:
        raise ConfigError(
            f"--out {str(path)!r} is the source profile; the original is never overwritten: "
            "choose another --out"
        )
    return path


def _same_dir(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def machine_description(profile: Profile) -> str:
    """Which machine ran the tune: host, CPU architecture and cores, profile hardware name."""
    return (
        f"{platform.node() or 'unknown host'} ({platform.machine()}, {os.cpu_count()} cores; "
        f"profile hardware: {profile.hardware.name})"
    )


def build_tuned_profile(
    profile: Profile, params: Mapping[str, Any], provenance: Mapping[str, Any]
) -> Profile:
    """A copy of ``profile`` with ``params`` applied, renamed ``NAME.tuned``, with ``[tuned]``.

    ``provenance`` gets ``date`` and ``source_profile`` added; the tuned ``params`` are
    kept under ``[tuned.params]`` so the file says what changed.
    """
    tuned = apply_params(profile, params)
    tuned.name = tuned_name(profile.name)
    table: dict[str, object] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "source_profile": profile.name,
        **{k: v for k, v in provenance.items() if v is not None},
        "params": dict(params),
    }
    tuned.tuned = table
    return tuned


def refuse_to_replace(path: Path, *, force: bool, command: str | None = None) -> None:
    """Raise ConfigError when ``path`` exists and ``force`` is false.

    ``command`` is the exact command line that would replace it (shown in the message).
    """
    if force or not path.exists():
        return
    how = f"`{command}`" if command else "--force"
    raise ConfigError(
        f"{path} already exists and is never replaced without asking: rerun with {how} to "
        "replace it, or with --out DIR to write into another folder"
    )


def write_tuned(tuned: Profile, path: Path, *, force: bool = False) -> Path:
    """Write ``tuned`` atomically to ``path`` and check that it loads back unchanged.

    An existing file is replaced only with ``force`` (else ConfigError, nothing written).
    """
    refuse_to_replace(path, force=force)
    source = (tuned.tuned or {}).get("source_profile", "?")
    header = (
        f"Written by `orchbench tune` from profile {source}.\n"
        "Edit freely; `orchbench tune` replaces this file only when run with --force."
    )
    save_profile(tuned, path, header=header)
    from orchbench.profiles import load_profile

    back = load_profile(path)
    if back.model_dump() != tuned.model_dump():
        raise ProfileError(f"{path}: the tuned profile did not load back as written")
    return path


def resolves_by_name(path: Path, name: str) -> bool:
    """Whether ``load_profile(name)`` finds exactly ``path``."""
    try:
        return find_profile(name).resolve() == path.resolve()
    except ProfileError:
        return False
