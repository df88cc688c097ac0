"""Profiles as TOML files: find, load (with ``extends``), validate, save atomically.

A profile is looked up by path (``./my.toml``) or by name (``rtx4090``,
``rtx4090.tuned``) in, in order: the directories of ``$ORCHBENCH_PROFILES``
(``os.pathsep``-separated), ``./profiles``, and the profiles shipped with orchbench.

Errors are :class:`~orchbench.errors.ProfileError` with one line per problem, each naming
the file, the field and what would be valid.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from orchbench.config import Profile
from orchbench.errors import ProfileError

PROFILE_SUFFIX = ".toml"
_SIDE_FILES = (".calibration.toml",)


def bundled_profiles_dir() -> Path:
    """The profiles shipped with orchbench.

    A wheel carries them as ``orchbench/_profiles``; a source checkout (editable install)
    has them in the repository's ``profiles/`` beside the package.
    """
    packaged = Path(__file__).parent / "_profiles"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "profiles"


def search_path() -> list[Path]:
    """Directories searched for profiles by name, first match wins."""
    dirs = [Path(p) for p in os.environ.get("ORCHBENCH_PROFILES", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "profiles")
    dirs.append(bundled_profiles_dir())
    return dirs


def find_profile(name_or_path: str | Path) -> Path:
    """Resolve a profile name or path to an existing file, or raise ProfileError."""
    candidate = Path(name_or_path)
    if candidate.suffix == PROFILE_SUFFIX or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise ProfileError(f"profile file {str(candidate)!r} does not exist")
    for folder in search_path():
        path = folder / f"{name_or_path}{PROFILE_SUFFIX}"
        if path.is_file():
            return path
    available = ", ".join(sorted({p.stem for p in iter_profile_files()})) or "none"
    raise ProfileError(
        f"no profile named {str(name_or_path)!r}; available profiles: {available} "
        f"(searched {', '.join(str(d) for d in search_path())})"
    )


def iter_profile_files() -> Iterator[Path]:
    """Every profile file on the search path (earlier folders shadow later ones)."""
    seen: set[str] = set()
    for folder in search_path():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{PROFILE_SUFFIX}")):
            if path.name.endswith(_SIDE_FILES) or path.stem in seen:
                continue
            seen.add(path.stem)
            yield path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ProfileError(f"{path}: cannot be read: {exc.strerror}") from None


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge tables; a value in ``over`` replaces the one in ``base``."""
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _raw_with_extends(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    resolved = path.resolve()
    if resolved in chain:
        cycle = " -> ".join(str(p) for p in (*chain, resolved))
        raise ProfileError(f"{path}: field 'extends' makes a cycle: {cycle}")
    data = _read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ProfileError(f"{path}: field 'extends' must be a profile name or path, got {parent!r}")
    parent_path = path.parent / parent if parent.endswith(PROFILE_SUFFIX) else None
    try:
        base_path = parent_path if parent_path and parent_path.is_file() else find_profile(parent)
    except ProfileError as exc:
        raise ProfileError(f"{path}: field 'extends': {exc}") from None
    return _merge(_raw_with_extends(base_path, (*chain, resolved)), data)


def format_validation_error(source: str, exc: ValidationError) -> str:
    """One line per problem: ``source: field 'a.b': message (got value)``."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown field" + _valid_fields_hint(exc.title, err["loc"])
        elif msg.startswith("Value error, "):
            msg = msg.removeprefix("Value error, ")
        got = "" if err["type"] in ("missing", "extra_forbidden") else f" (got {err['input']!r})"
        if err["type"] == "value_error":
            got = ""
        lines.append(f"{source}: field '{loc}': {msg}{got}")
    return "\n".join(lines)


def _valid_fields_hint(title: str, loc: tuple[Any, ...]) -> str:
    from orchbench import config

    model: Any = getattr(config, title, None)
    for part in loc[:-1]:
        if model is None:
            break
        field = model.model_fields.get(str(part)) if hasattr(model, "model_fields") else None
        if field is None:
            # dict values (models.<name>, routing.<type>): descend into the value type
            args = getattr(model, "__args__", ())
            model = args[-1] if args else None
            continue
        model = field.annotation
        args = getattr(model, "__args__", ())
        if args and not hasattr(model, "model_fields"):
            model = args[-1]
    if model is not None and hasattr(model, "model_fields"):
        return "; valid fields: " + ", ".join(model.model_fields)
    return ""


def profile_from_dict(data: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """Validate a profile given as a dict (as read from TOML)."""
    try:
        return Profile.model_validate(dict(data))
    except ValidationError as exc:
        raise ProfileError(format_validation_error(source, exc)) from None


def load_profile(name_or_path: str | Path) -> Profile:
    """Load and validate a profile by name (``"rtx4090"``, ``"rtx4090.tuned"``) or path.

    >>> load_profile("embedded").models["gemma3-270m"].tier  # doctest: +SKIP
    <ModelTier.FAST: 'fast'>
    """
    if isinstance(name_or_path, Profile):
        return name_or_path.model_copy(deep=True)
    path = find_profile(name_or_path)
    data = _raw_with_extends(path)
    data.setdefault("name", path.stem)
    return profile_from_dict(data, str(path))


def profile_to_dict(profile: Profile) -> dict[str, Any]:
    """A TOML-ready dict: enums as strings, ``None`` left out, model names as keys only."""
    data = profile.model_dump(mode="json", exclude_none=True)
    for model in data["models"].values():
        model.pop("name", None)
    return _strip(data)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    return value


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and ``os.replace``: never half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_profile(profile: Profile, path: str | Path, header: str | None = None) -> Path:
    """Write ``profile`` as TOML atomically; the written file loads back to an equal profile."""
    path = Path(path)
    body = tomli_w.dumps(profile_to_dict(profile))
    if header:
        body = "".join(f"# {line}\n" for line in header.splitlines()) + "\n" + body
    write_atomic(path, body)
    return path
