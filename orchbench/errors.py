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
    │   └── BackendTimeout         the request ran past its timeout
    └── ResultsError               a results folder is missing or corrupt

Every message is meant to be shown to a person as it is: it names the file, the field
or the value at fault and says what would be valid or what to do.
"""

from __future__ import annotations


class OrchbenchError(Exception):
    """Root of every error orchbench raises on purpose."""


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


class ResultsError(OrchbenchError):
    """A results folder is missing, incomplete or corrupt."""
