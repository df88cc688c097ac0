"""The one error tree of orchbench.

::

    OrchbenchError                 every error orchbench raises on purpose
    ├── ConfigError                a profile, suite, calibration or CLI value is invalid
    │   ├── ProfileError           a profile file is missing or invalid
    │   └── SuiteError             a workload file is missing or invalid
    ├── BackendError               an engine could not serve a request
    │   ├── BackendUnavailable     the server is not running / the engine is not installed
    │   ├── ModelNotFound          the model is not installed on the engine
    │   ├── BackendBusy            the engine refused for load (HTTP 503); worth retrying
    │   ├── BackendTimeout         the request ran past its timeout
    │   └── ServerMisconfigured    the server runs with a setting that breaks the measurement
    └── ResultsError               a results folder is missing or corrupt

    Terminated (a KeyboardInterrupt) SIGTERM, raised where a front end asked for it

Every message is meant to be shown to a person as it is: it names the file, the field
or the value at fault and says what would be valid or what to do.
"""

from __future__ import annotations

import re
from typing import Any


class OrchbenchError(Exception):
    """Root of every error orchbench raises on purpose.

    String arguments are passed through :func:`redact`: a message quoting a host URL or a
    key shows ``http://***@host:port``, never the credential.
    """

    def __init__(self, *args: object) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))


class ConfigError(OrchbenchError):
    """A configuration value (profile, suite, calibration, CLI option) is invalid."""


class ProfileError(ConfigError):
    """A profile file is missing or invalid."""


class SuiteError(ConfigError):
    """A workload (suite) file is missing or invalid."""


class BackendError(OrchbenchError):
    """An engine could not serve a request.

    ``retryable`` says whether trying the same model again may succeed.
    """

    retryable: bool = True


class BackendUnavailable(BackendError):
    """The engine's server is not reachable, or its Python package is not installed."""

    retryable = False


class ModelNotFound(BackendError):
    """The requested model is not installed on the engine."""

    retryable = False


class BackendBusy(BackendError):
    """The engine refused the request for load (e.g. Ollama's HTTP 503); retry with backoff."""


class BackendTimeout(BackendError):
    """The request ran past its timeout."""


class ServerMisconfigured(BackendError):
    """The server runs with a setting that makes its answers or timings meaningless (e.g.
    llama_cpp.server aborting a stream in flight for each new request); the message names the
    setting and the fix. Not retryable: a retry would only measure the misconfiguration."""

    retryable = False


class ResultsError(OrchbenchError):
    """A results folder is missing, incomplete or corrupt."""


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM; raised by a handler a front end installs
    (``orchbench run``) so a stop by SIGTERM unwinds like Ctrl-C: ``finally`` blocks run,
    temporary folders are removed, the results folder is marked partial with the reason.

    A :class:`KeyboardInterrupt`, not an :class:`OrchbenchError`: pytest and asyncio treat
    it as an interruption.
    """


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#\"']*@")
_KEYS = re.compile(
    r"(?i)\b(bearer\s+|(?:api[_-]?key|token|password|secret)[\"']?\s*[:=]\s*[\"']?)"
    r"[^\s\"',;&)\]}]+|\bsk-[A-Za-z0-9_-]{8,}"
)


def redact(text: str) -> str:
    """``text`` with credentials masked: URL userinfo (``http://***@host:port``), bearer
    tokens, ``api_key=…``/``token=…``/``password=…`` values and ``sk-…`` keys become ``***``.

    >>> redact("cannot reach http://user:pw@10.0.0.2:11434 (api_key=abc123)")
    'cannot reach http://***@10.0.0.2:11434 (api_key=***)'
    """
    text = _USERINFO.sub(r"\1***@", text)
    return _KEYS.sub(lambda m: (m.group(1) or "") + "***", text)


def redact_data(value: Any) -> Any:
    """A copy of JSON-like ``value`` with :func:`redact` applied to every string in it."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_data(v) for v in value]
    return value
