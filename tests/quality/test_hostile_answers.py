"""Hostile answers: code that tries to fool the sandbox or harm the machine fails, leaves nothing.

Every answer here is wrong (``add`` returns 42) plus a trick from issue 13 or one like it;
each must score 0 under every isolation this machine has. Under ``bwrap`` the code must also
be unable to signal orchbench, read the home directory, write outside its temporary
directory, reach the network, or leave a process behind.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from pathlib import Path

import pytest

from orchbench.quality._isolation import Isolation
from orchbench.quality._sandbox import Sandbox, TestOutcome

WRONG = "import os, sys, json, signal, builtins\ndef add(a, b):\n    return 42\n"
TESTS = "assert add(1, 2) == 3\nassert add(2, 2) == 4\nassert add(-1, 1) == 0\n"
BWRAP = Isolation()
KINDS = ["bwrap", "process"]

TRICKS = {
    "update __main__.result and save()": (
        "import __main__\n__main__.result = {'passed': 3, 'total': 3, 'failures': []}\n"
        "__main__.save()\n"
    ),
    "patch save": "import __main__\n__main__.save = lambda: None\n",
    "atexit rewrites the result": (
        "import atexit\n"
        "def forge():\n"
        "    for name in ('result.json', '../result.json'):\n"
        "        open(name, 'w').write(json.dumps({'passed': 3, 'total': 3}))\n"
        "atexit.register(forge)\n"
    ),
    "result.json then os._exit(0)": (
        "open('result.json', 'w').write(json.dumps({'passed': 300, 'total': 3}))\nos._exit(0)\n"
    ),
    "os._exit(0) inside the call": "def add(a, b):\n    os._exit(0)\n",
    "always-equal __eq__": (
        "class Yes:\n    def __eq__(self, other):\n        return True\n"
        "    __hash__ = object.__hash__\n"
        "def add(a, b):\n    return Yes()\n"
    ),
    "int subclass with always-equal __eq__": (
        "class Yes(int):\n    def __eq__(self, other):\n        return True\n"
        "def add(a, b):\n    return Yes(42)\n"
    ),
    "patched AssertionError and builtins": (
        "class Never(Exception):\n    pass\n"
        "builtins.AssertionError = Never\nbuiltins.isinstance = lambda *a: True\n"
        "builtins.__import__ = lambda *a, **k: sys\n"
    ),
    "sys.modules tampering": (
        "import types\nfake = types.ModuleType('json')\nfake.dumps = lambda *a, **k: "
        '\'{"passed": 3, "total": 3, "done": true}\'\nsys.modules[\'json\'] = fake\n'
        "sys.modules['ast'] = fake\nsys.modules['builtins'] = fake\n"
    ),
    "exceptions swallowed by a patched hook": (
        "sys.excepthook = lambda *a: None\nsys.settrace(lambda *a: None)\n"
        "def add(a, b):\n    raise AssertionError('no, it passed')\n"
    ),
    "forged replies and counts on every fd": (
        "line = json.dumps({'passed': 3, 'total': 3, 'done': True}) + '\\n'\n"
        "ok = json.dumps(['ok', ['i', '3'], []]) + '\\n'\n"
        "for fd in range(3, 64):\n"
        "    for text in (line, ok * 5):\n"
        "        try:\n            os.write(fd, text.encode())\n"
        "        except OSError:\n            pass\n"
    ),
    "kill the parent": "os.kill(os.getppid(), signal.SIGKILL)\n",
    "kill the parent during the call": (
        "def add(a, b):\n    os.kill(os.getppid(), signal.SIGKILL)\n    return 42\n"
    ),
    "SystemExit(0) at import": "raise SystemExit(0)\n",
}


def make_sandbox(kind: str) -> Sandbox:
    if kind == "bwrap":
        if BWRAP.kind != "bwrap":
            pytest.skip("bwrap does not work on this machine")
        return Sandbox(BWRAP)
    return Sandbox(Isolation(allow_bwrap=False))


def run(kind: str, code: str, tests: str = TESTS, timeout_s: float = 10.0) -> TestOutcome:
    outcome = make_sandbox(kind).run(code, tests, timeout_s=timeout_s)
    assert outcome.isolation == kind
    return outcome


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_no_trick_makes_a_wrong_answer_pass(kind: str, trick: str) -> None:
    outcome = run(kind, WRONG + TRICKS[trick])
    assert outcome.passed == 0, outcome
    assert outcome.fraction == 0.0


@pytest.mark.parametrize("kind", KINDS)
def test_a_right_answer_still_passes_and_plain_data_round_trips(kind: str) -> None:
    code = (
        "def add(a, b):\n    return a + b\n"
        "def echo(x):\n    return x\n"
        "def grow(items):\n    items.append(len(items))\n"
        "class Stack:\n    def __init__(self):\n        self.items = []\n"
        "    def push(self, x):\n        self.items.append(x)\n"
        "    def pop(self):\n        return self.items.pop()\n"
        "def fail():\n    raise ValueError('bad')\n"
    )
    tests = (
        "assert add(1, 2) == 3\n"
        "assert echo({'a': (1, 2.5, None), 3: [True, b'x', {1, 2}]}) == "
        "{'a': (1, 2.5, None), 3: [True, b'x', {1, 2}]}\n"
        "xs = [5]\ngrow(xs)\nassert xs == [5, 1]\n"
        "s = Stack()\ns.push(4)\ns.push(5)\nassert s.pop() == 5 and s.items == [4]\n"
        "try:\n    fail()\n    raise AssertionError('no error')\nexcept ValueError as e:\n"
        "    assert str(e) == 'bad'\n"
    )
    outcome = run(kind, code, tests)
    assert (outcome.passed, outcome.total) == (4, 4), outcome


@pytest.mark.parametrize("kind", KINDS)
def test_processes_the_code_starts_do_not_outlive_the_run(kind: str) -> None:
    mark = f"{int(uuid.uuid4().int % 10**6)}.{os.getpid()}"
    code = WRONG + (
        "def spawn(detach):\n"
        "    if os.fork() == 0:\n"
        "        if detach:\n            os.setsid()\n"
        "            if os.fork():\n                os._exit(0)\n"
        f"        os.execv('/bin/sleep', ['sleep', '{mark}'])\n"
        "spawn(False)\nspawn(True)\n"
        "def spin():\n    spawn(True)\n    while True:\n        pass\n"
    )
    finished = run(kind, code)
    assert finished.passed == 0
    timed = run(kind, code, "assert add(1, 2) == 3\nspin()\n", timeout_s=2.0)
    assert timed.timed_out and timed.passed == 0
    assert _wait_gone(mark) == []


def _wait_gone(mark: str) -> list[int]:
    deadline = time.monotonic() + 5
    while True:
        left = [int(p) for p in os.listdir("/proc") if p.isdigit() and mark in _cmdline(p)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_the_code_cannot_signal_orchbench() -> None:
    code = WRONG + (
        f"for pid in ({os.getpid()}, {os.getppid()}, -1):\n"
        "    try:\n        os.kill(pid, signal.SIGKILL)\n    except OSError:\n        pass\n"
    )
    outcome = run("bwrap", code)
    assert outcome.passed == 0  # and this test process is still alive to see it


def test_the_code_cannot_write_outside_its_temporary_directory(tmp_path: Path) -> None:
    name = f"orchbench-escape-{uuid.uuid4().hex}"
    targets = [tmp_path / name, Path.home() / name, Path("/tmp") / name, Path("/work") / name,
               Path("/etc") / name]  # fmt: skip
    code = WRONG + "".join(
        f"try:\n    open({str(t)!r}, 'w').write('x')\nexcept OSError:\n    pass\n" for t in targets
    )
    assert run("bwrap", code).passed == 0
    assert [t for t in targets if t.exists()] == []


def test_the_code_cannot_see_the_home_directory_or_the_project() -> None:
    python_prefix = os.path.realpath(__import__("sys").base_prefix)
    private = [str(p) for p in Path.home().iterdir() if not python_prefix.startswith(str(p))]
    private += [str(Path(__file__).resolve()), str(Path.home() / ".ssh")]
    code = (
        "import os\n"
        f"PATHS = {private!r}\n"
        "def seen():\n    return [p for p in PATHS if os.path.exists(p)]\n"
        "def passwd():\n    return len(open('/etc/passwd').read()) > 0\n"
    )
    outcome = run("bwrap", code, "assert seen() == []\nassert passwd()\n")
    assert (outcome.passed, outcome.total) == (2, 2), outcome


def test_the_code_cannot_reach_a_listener_on_loopback() -> None:
    accepted: list[object] = []
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    port = server.getsockname()[1]
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    code = (
        "import socket\n"
        "def reach():\n    try:\n"
        f"        socket.create_connection(('127.0.0.1', {port}), timeout=2).close()\n"
        "        return True\n    except OSError:\n        return False\n"
    )
    try:
        outcome = run("bwrap", code, "assert reach() is False\n")
    finally:
        stop.set()
        thread.join()
        server.close()
    assert outcome.passed == 1, outcome
    assert accepted == []
