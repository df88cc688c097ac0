"""Profiles as TOML files: find, load (with ``extends``), validate, save atomically.

A profile is looked up by path (``./my.toml``) or by name (``rtx4090``,
``rtx4090.tuned``) in, in order: the directories of ``$ORCHBENCH_PROFILES``
(``os.pathsep``-separated), ``./profiles``, and the profiles shipped with orchbench.

Errors are :class:`~orchbench.errors.ProfileError` with one line per problem, each naming
the file, the field and what would be valid.
"""

from __future__ import annotations

import difflib
import json
import os
import tempfile
import types
import typing
from collections.abc import Iterator, Mapping
from enum import Enum
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import BaseModel, ValidationError

from orchbench._toml import read_toml
from orchbench.config import FieldProblems, Profile
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


def find_profile(name_or_path: str | Path, *, skip: Path | None = None) -> Path:
    """Resolve a profile name or path to an existing file, or raise ProfileError.

    A value ending in ``.toml`` or containing a folder is a path; anything else is a
    name looked up on :func:`search_path`. ``skip`` passes over one file (a profile
    that ``extends`` a profile of its own name means the next one on the path).
    """
    candidate = Path(name_or_path)
    if candidate.suffix == PROFILE_SUFFIX or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise ProfileError(
            f"profile file {str(candidate)!r} does not exist "
            f"(relative paths start at {Path.cwd()}); give an existing .toml file or a "
            f"profile name ({', '.join(available_profiles()) or 'none found'})"
        )
    for folder in search_path():
        path = folder / f"{name_or_path}{PROFILE_SUFFIX}"
        if path.is_file() and (skip is None or path.resolve() != skip.resolve()):
            return path
    names = available_profiles()
    close = difflib.get_close_matches(str(name_or_path), names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise ProfileError(
        f"no profile named {str(name_or_path)!r}; {hint}available profiles: "
        f"{', '.join(names) or 'none'} (searched {', '.join(str(d) for d in search_path())}; "
        "add folders with ORCHBENCH_PROFILES)"
    )


def available_profiles() -> list[str]:
    """Names of every profile on the search path, sorted."""
    return sorted(p.stem for p in iter_profile_files())


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


MAX_EXTENDS_DEPTH = 8
"""The longest chain of ``extends`` a profile may have."""


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
    if len(chain) > MAX_EXTENDS_DEPTH:
        raise ProfileError(
            f"{chain[0]}: field 'extends' chains more than {MAX_EXTENDS_DEPTH} profiles "
            f"(reached {path}); flatten the chain"
        )
    data = read_toml(path)
    parent = data.pop("extends", None)
    if parent is None:
        return data
    if not isinstance(parent, str) or not parent:
        raise ProfileError(
            f"{path}: field 'extends' must be a profile name or a path to a .toml file "
            f"(got {parent!r})"
        )
    try:
        if parent.endswith(PROFILE_SUFFIX) or "/" in parent:
            # A parent path is relative to the child file, not to the working directory.
            base_path = find_profile(path.parent / parent)
        else:
            base_path = find_profile(parent, skip=path)
    except ProfileError as exc:
        raise ProfileError(f"{path}: field 'extends': {exc}") from None
    merged = _merge(_raw_with_extends(base_path, (*chain, resolved)), data)
    # A profile is named by its own file, never by the parent's `name`.
    merged["name"] = data.get("name", path.stem)
    return merged


def format_validation_error(
    source: str, exc: ValidationError, model: type[BaseModel] | None = None
) -> str:
    """One line per problem: ``source: field 'a.b': what is wrong and what is valid (got value)``.

    ``model`` is the pydantic class that was validated; it lets the message list the
    valid fields and ranges. When omitted, it is looked up by name in
    :mod:`orchbench.config` (so profile errors need not pass it).
    """
    root = model if model is not None else _config_model(exc.title)
    lines: list[str] = []
    for err in exc.errors():
        problems = _field_problems(err)
        if problems is not None:
            at = tuple(str(part) for part in err["loc"])  # where the validator ran
            lines.extend(
                f"{source}: field '{'.'.join((*at, *loc))}': {msg}" for loc, msg in problems
            )
            continue
        loc = tuple(err["loc"])
        key_error = bool(loc) and loc[-1] == "[key]"
        if key_error:
            loc = loc[:-1]
        where = ".".join(str(part) for part in loc) or "(top level)"
        lines.append(f"{source}: field '{where}': {_message(err, root, loc, key_error)}")
    return "\n".join(lines)


def _field_problems(err: Mapping[str, Any]) -> list[tuple[tuple[str, ...], str]] | None:
    error = (err.get("ctx") or {}).get("error")
    return error.problems if isinstance(error, FieldProblems) else None


def _config_model(title: str) -> type[BaseModel] | None:
    from orchbench import config

    found = getattr(config, title, None)
    return found if isinstance(found, type) and issubclass(found, BaseModel) else None


def _message(err: Mapping[str, Any], root: type[BaseModel] | None, loc: tuple, key: bool) -> str:
    kind = err["type"]
    got = f" (got {_short(err.get('input'))})"
    if kind == "extra_forbidden":
        fields = _fields_at(root, loc[:-1])
        if not fields:
            return "unknown field"
        close = difflib.get_close_matches(str(loc[-1]), fields, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"unknown field{hint}; valid fields: {', '.join(fields)}"
    if kind == "missing":
        required = _required_at(root, loc)
        need = f" (a table with: {', '.join(required)})" if required else ""
        return f"required field is missing{need}"
    if kind in ("enum", "literal_error"):
        expected = (err.get("ctx") or {}).get("expected", "")
        valid = expected.replace("'", "").replace(" or ", ", ")
        what = "unknown key; valid keys" if key else "invalid value; valid values"
        return f"{what}: {valid}{got}"
    if kind in _RANGE_ERRORS:
        return f"must be {_range_text(root, loc, err)}{got}"
    if kind in _TYPE_ERRORS:
        return f"{_TYPE_ERRORS[kind]}{got}"
    if kind == "value_error":
        return str(err["msg"]).removeprefix("Value error, ")
    return f"{err['msg']}{got}"


_TYPE_ERRORS = {
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "string_type": "must be a string (in quotes)",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": 'must be a list, e.g. ["a", "b"]',
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "string_too_short": "must not be empty",
    "string_too_long": "is too long",
    "finite_number": "must be a finite number (not inf or nan)",
    "too_short": "must not be empty",
}
_RANGE_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _range_text(root: type[BaseModel] | None, loc: tuple, err: Mapping[str, Any]) -> str:
    """'between 1 and 10' from the field's constraints, else from the error alone."""
    bounds: dict[str, Any] = {}
    info = _field_info_at(root, loc)
    for meta in getattr(info, "metadata", ()):
        for name in ("ge", "gt", "le", "lt"):
            if getattr(meta, name, None) is not None:
                bounds[name] = getattr(meta, name)
    if not bounds:
        bounds = {k: v for k, v in (err.get("ctx") or {}).items() if k in ("ge", "gt", "le", "lt")}
    low = ("at least", bounds["ge"]) if "ge" in bounds else ("greater than", bounds.get("gt"))
    high = ("at most", bounds["le"]) if "le" in bounds else ("less than", bounds.get("lt"))
    if "ge" in bounds and "le" in bounds:
        return f"between {bounds['ge']} and {bounds['le']}"
    parts = [f"{word} {value}" for word, value in (low, high) if value is not None]
    return " and ".join(parts) or "in range"


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_at(root: Any, loc: tuple) -> Any:
    """The type reached by following ``loc`` from ``root`` through fields, dicts and lists."""
    current: Any = root
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        elif typing.get_origin(current) in (dict, list, tuple):
            args = typing.get_args(current)
            current = args[-1] if args else None
        else:
            return None
    return _unwrap(current)


def _unwrap(tp: Any) -> Any:
    # X | None -> X, so fields like `tuned: dict | None` can be followed.
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _fields_at(root: Any, loc: tuple) -> list[str]:
    target = _type_at(root, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return list(target.model_fields)
    return []


def _required_at(root: Any, loc: tuple) -> list[str]:
    target = _type_at(root, loc)
    if isinstance(target, type) and issubclass(target, BaseModel):
        return [n for n, f in target.model_fields.items() if f.is_required()]
    return []


def _field_info_at(root: Any, loc: tuple) -> Any:
    if not loc:
        return None
    parent = _type_at(root, loc[:-1])
    if isinstance(parent, type) and issubclass(parent, BaseModel):
        return parent.model_fields.get(str(loc[-1]))
    return None


def profile_from_dict(data: Mapping[str, Any], source: str = "<profile>") -> Profile:
    """Validate a profile given as a dict (as read from TOML), strictly.

    Strict as JSON is: a string where a number belongs (``"4"``), a boolean where a
    count belongs (``true``) or ``5.0`` for a whole number is an error, not a silent
    conversion; names of enums (``"fast"``) are fine. TOML dates become ISO strings.
    """
    try:
        return Profile.model_validate_json(json.dumps(dict(data), default=str), strict=True)
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
    if not data:
        raise ProfileError(
            f"{path}: the file is empty; a profile needs at least [hardware] and [models]"
        )
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


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file and ``os.replace``: never half a file.

    Text is written as UTF-8; bytes as they are.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        # mkstemp creates 0600; give the file the mode a plain open() would have.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
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
