"""The pytest hooks the orchbench plugin calls: implement them in a ``conftest.py`` or plugin.

The plugin registers these specifications through ``pytest_addhooks``, so pytest checks
an implementation's name and arguments when it is registered. Example, a ``conftest.py``
that runs every benchmark of the session on a stand-in engine::

    from orchbench.testing import FakeBackend

    def pytest_orchbench_make_backend(profile, kind, host):
        return FakeBackend(latency=0.01)

An implementation may accept only some of the arguments (``def
pytest_orchbench_make_backend(kind): ...``), as with every pytest hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from orchbench.config import Profile
    from orchbench.engine import Backend


@pytest.hookspec(firstresult=True)
def pytest_orchbench_make_backend(profile: Profile, kind: str, host: str | None) -> Backend | None:
    """Build the engine the ``bench_run`` and ``orchestrator`` fixtures use, or ``None``.

    ``profile`` is the session's profile, ``kind`` the engine kind ``--orchbench-backend``
    resolved to, ``host`` the ``--orchbench-host`` URL (``None``: the profile's own). The
    first implementation that returns a backend wins; when none does, the plugin builds
    ``orchbench.backends.make_backend(kind, host=host, profile=profile)``. The plugin
    does not close a backend a hook returned: its owner does.
    """
