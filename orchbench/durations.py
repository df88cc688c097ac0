"""Ollama's durations: ``keep_alive`` as Go syntax (``"5m"``, ``"1h30m"``) or seconds.

Parsed as Ollama's envconfig.KeepAlive does; :mod:`orchbench.config` validates the
``keep_alive`` fields with :func:`check_keep_alive`.
"""

from __future__ import annotations

import math
import re

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def keep_alive_seconds(value: str | int | float) -> float:
    """Seconds a ``keep_alive`` keeps an idle model loaded; ``math.inf`` when negative.

    Parsed as Ollama's envconfig.KeepAlive does: a Go duration (``"5m"``, ``"1h30m"``)
    or a bare number of seconds; negative means forever, 0 unloads at once.
    Raises ``ValueError`` on anything else.

    >>> keep_alive_seconds("1h30m"), keep_alive_seconds(-1), keep_alive_seconds("0")
    (5400.0, inf, 0.0)
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        text = str(value).strip()
        sign = -1.0 if text.startswith("-") else 1.0
        text = text.lstrip("+-")
        if re.fullmatch(r"\d+", text):
            seconds = sign * float(text)
        elif _DURATION.fullmatch(text):
            parts = _DURATION_PART.findall(text)
            seconds = sign * sum(float(n) * _UNIT_S[u] for n, u in parts)
        else:
            raise ValueError(
                f"{value!r} is not a duration: use Go syntax like '5m', '1h30m', '300s', "
                "a number of seconds, or -1 for forever"
            )
    return math.inf if seconds < 0 else seconds


def check_keep_alive(value: object) -> object:
    """One clear error for a ``keep_alive`` of the wrong type (not two, one per union arm)."""
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(
            f"must be a duration like '5m' or '1h30m', or whole seconds (-1: forever); "
            f"got {value!r}"
        )
    keep_alive_seconds(value)  # ValueError names the valid forms
    return value
