"""Reading a TOML file (a profile, a suite, a calibration) safely: one clear error or data.

Every way a file can be bad is refused with one line naming the file
(:func:`read_toml`): unreadable, too large, not UTF-8 (Latin-1, UTF-16, binary), bad
syntax, or nested too deeply for the parser (which recurses).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from orchbench.errors import ConfigError, ProfileError

MAX_TOML_BYTES = 16 * 1024 * 1024
"""A profile or suite file larger than this is refused (they are a few kilobytes)."""
MAX_NESTING = 32
"""Tables and arrays nested deeper than this are refused (profiles nest 4 deep)."""
_BOMS = (
    (b"\xef\xbb\xbf", "UTF-8 with a byte-order mark"),
    (b"\xff\xfe\x00\x00", "UTF-32"),
    (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"),
    (b"\xfe\xff", "UTF-16"),
)


def read_toml(path: Path, error: type[ConfigError] = ProfileError) -> dict[str, Any]:
    """Read a UTF-8 TOML file; raise ``error`` naming the file when it cannot be.

    Refused with one line each: an unreadable file, one over :data:`MAX_TOML_BYTES`, text
    that is not UTF-8 (Latin-1, UTF-16, binary), bad TOML syntax, and tables or arrays
    nested deeper than :data:`MAX_NESTING`.
    """
    try:
        if path.stat().st_size > MAX_TOML_BYTES:
            raise error(
                f"{path}: {path.stat().st_size} bytes is too large for a TOML file here "
                f"(at most {MAX_TOML_BYTES // (1024 * 1024)} MiB)"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise error(f"{path}: cannot be read: {exc.strerror or exc}") from None
    text = _decode(path, raw, error)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        data = None
    if data is None or _depth(data) > MAX_NESTING:
        raise error(
            f"{path}: tables or arrays are nested too deeply (at most {MAX_NESTING} levels)"
        )
    return data


def _decode(path: Path, raw: bytes, error: type[ConfigError]) -> str:
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise error(f"{path}: the file is {name}; TOML files must be UTF-8 (re-save it so)")
    if b"\x00" in raw:
        raise error(f"{path}: not a text file (it holds NUL bytes); give a UTF-8 TOML file")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"{path}: not UTF-8 (byte 0x{raw[exc.start]:02x} on line {line}); TOML files must "
            "be UTF-8: re-save it as UTF-8"
        ) from None


def _depth(value: Any) -> int:
    """How deeply ``value`` nests dicts and lists (a scalar is 0), without recursion."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            deepest = max(deepest, depth)
            continue
        deepest = max(deepest, depth + 1)
        if depth + 1 > MAX_NESTING:
            return depth + 1
        stack.extend((child, depth + 1) for child in children)
    return deepest
