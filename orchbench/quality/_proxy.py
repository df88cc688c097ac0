"""The judge's view of the answer's code: proxies that call into the box, and the codec.

Loaded by :mod:`orchbench.quality._judge` (trusted, in the judge process). The model's
code never runs in that process: the tests see the code's top-level names as proxies.
Calling one sends the arguments to the box and decodes the reply into fresh built-in
values (``int``, ``str``, ``list``...), so what the tests compare is data, never an
object of the model's (no ``__eq__`` tricks); an object that is not plain data stays in
the box behind a handle whose equality is identity. The box's replies can lie only about
its own return values, which is what an answer is anyway; it never sees the tests or the
expected values.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib
import json
import os
import select
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any

MAX_LINE = 8 << 20
"""The longest reply line the judge reads from the box."""
_SAFE_MODULES = sys.stdlib_module_names - {
    "antigravity", "this", "turtle", "turtledemo", "tkinter", "idlelib", "webbrowser"
}  # fmt: skip
"""Standard modules the code imported that the tests may use too (the judge's own copy)."""


class CandidateError(Exception):
    """The code raised something with no built-in equivalent, or its process broke."""


class CandidateTimeout(BaseException):
    """The run's time limit passed while the code was working (not caught by ``except``)."""


class Link:
    """The pipe pair to the box process, with the run's deadline."""

    def __init__(self, proc: subprocess.Popen[bytes], deadline: float) -> None:
        self.proc = proc
        self.deadline = deadline
        self.buffer = b""
        self.broken: str | None = None
        self.timed_out = False

    def ask(self, request: list[Any]) -> Any:
        """Send one request; the box's decoded reply (raises what the code raised)."""
        if self.timed_out:
            raise CandidateTimeout("the time limit passed")
        if self.broken is not None:
            raise CandidateError(self.broken)
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            self.broken = "the code's process ended"
            raise CandidateError(self.broken) from None
        return self.read()

    def read(self) -> Any:
        """One JSON message from the box, waiting at most until the deadline."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buffer:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                self.timed_out = True
                raise CandidateTimeout("the time limit passed")
            chunk = os.read(fd, 1 << 16)
            if not chunk or len(self.buffer) > MAX_LINE:
                self.broken = "the code's process ended" if not chunk else "garbled reply"
                raise CandidateError(self.broken)
            self.buffer += chunk
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            return json.loads(line)
        except (ValueError, RecursionError):
            self.broken = "garbled reply"
            raise CandidateError(self.broken) from None


class Proxy:
    """A name or object of the code's, living in the box; calls go there and back."""

    __slots__ = ("_handle", "_link")

    def __init__(self, link: Link, handle: int) -> None:
        object.__setattr__(self, "_link", link)
        object.__setattr__(self, "_handle", handle)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        link: Link = object.__getattribute__(self, "_link")
        sent = [encode(a) for a in args]
        named = [[k, encode(v)] for k, v in kwargs.items()]
        reply = link.ask(["call", object.__getattribute__(self, "_handle"), sent, named])
        result = answer(link, reply)
        write_back(link, args, reply)
        return result

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return self._op("getattr", name)

    def _op(self, op: str, *args: Any) -> Any:
        link: Link = object.__getattribute__(self, "_link")
        handle = object.__getattribute__(self, "_handle")
        if op == "getattr":
            return answer(link, link.ask(["getattr", handle, args[0]]))
        return answer(link, link.ask(["op", op, handle, [encode(a) for a in args]]))

    def __len__(self) -> int:
        return _typed(self._op("len"), int)

    def __bool__(self) -> bool:
        return _typed(self._op("bool"), bool)

    def __str__(self) -> str:
        return _typed(self._op("str"), str)

    def __repr__(self) -> str:
        return _typed(self._op("repr"), str)

    def __getitem__(self, key: Any) -> Any:
        return self._op("getitem", key)

    def __contains__(self, item: Any) -> bool:
        return _typed(self._op("contains", item), bool)

    def __iter__(self) -> Any:
        return iter(_typed(self._op("iter"), list))


def _typed(value: Any, kind: type) -> Any:
    if type(value) is not kind:
        raise CandidateError(f"the code gave {type(value).__name__} where {kind.__name__} is due")
    return value


def encode(value: Any, depth: int = 0) -> list[Any]:
    """Tagged JSON of a test's argument (plain data, or a proxy of the box's)."""
    if depth > 60:
        raise CandidateError("an argument nested too deeply to send to the code")
    if isinstance(value, Proxy):
        return ["h", object.__getattribute__(value, "_handle")]
    kind = type(value)
    if value is None:
        return ["n"]
    if kind is bool:
        return ["b", value]
    if kind is int:
        return ["i", repr(value)]
    if kind is float:
        return ["f", repr(value)]
    if kind is str:
        return ["s", value]
    if kind is bytes:
        return ["y", value.hex()]
    tags: dict[type, str] = {list: "l", tuple: "t", set: "S", frozenset: "F"}
    if kind in tags:
        return [tags[kind], [encode(v, depth + 1) for v in value]]
    if kind is dict:
        return ["d", [[encode(k, depth + 1), encode(v, depth + 1)] for k, v in value.items()]]
    raise CandidateError(f"cannot pass a {kind.__name__} to the code (plain data only)")


def decode(link: Link, data: Any, depth: int = 0) -> Any:
    """Fresh built-in values from the box's tagged JSON; raises on anything malformed."""
    if type(data) is not list or not data or type(data[0]) is not str or depth > 200:
        raise ValueError("malformed value")
    tag, rest = data[0], data[1:]
    if tag == "n" and not rest:
        return None
    if len(rest) != 1:
        raise ValueError("malformed value")
    payload = rest[0]
    simple: dict[str, tuple[type, Callable[[Any], Any]]] = {
        "b": (bool, bool), "i": (str, int), "f": (str, float), "s": (str, str),
        "y": (str, bytes.fromhex),
    }  # fmt: skip
    if tag in simple:
        kind, make = simple[tag]
        if type(payload) is not kind:
            raise ValueError("malformed value")
        return make(payload)
    if tag == "h":
        if type(payload) is not int:
            raise ValueError("malformed handle")
        return Proxy(link, payload)
    if type(payload) is not list:
        raise ValueError("malformed value")
    if tag == "d":
        pairs = [(decode(link, p[0], depth + 1), decode(link, p[1], depth + 1)) for p in payload]
        return dict(pairs)
    items = [decode(link, v, depth + 1) for v in payload]
    makers: dict[str, Callable[[list[Any]], Any]] = {
        "l": list, "t": tuple, "S": set, "F": frozenset
    }  # fmt: skip
    if tag not in makers:
        raise ValueError("malformed value")
    return makers[tag](items)


def answer(link: Link, reply: Any) -> Any:
    """The value in a box reply, or the exception the code raised, rebuilt here."""
    if type(reply) is list and len(reply) == 3 and reply[0] == "exc":
        name, message = str(reply[1])[:80], str(reply[2])[:300]
        kind = getattr(builtins, name, None)
        if isinstance(kind, type) and issubclass(kind, Exception):
            raise kind(message)
        raise CandidateError(f"{name}: {message}")
    try:
        if type(reply) is list and len(reply) == 3 and reply[0] == "ok":
            return decode(link, reply[1])
        raise ValueError("malformed reply")
    except (ValueError, TypeError, RecursionError) as exc:
        link.broken = f"garbled reply from the code ({exc})"
        raise CandidateError(link.broken) from None


def write_back(link: Link, args: tuple[Any, ...], reply: Any) -> None:
    """Copy the code's changes to list, dict and set arguments back (in-place functions)."""
    after = reply[2] if type(reply[2]) is list and len(reply[2]) == len(args) else []
    for arg, data in zip(args, after, strict=False):
        with contextlib.suppress(ValueError, TypeError, RecursionError):
            if type(arg) is list:
                arg[:] = _typed(decode(link, data), list)
            elif type(arg) is dict:
                new = _typed(decode(link, data), dict)
                arg.clear()
                arg.update(new)
            elif type(arg) is set:
                new = _typed(decode(link, data), set)
                arg.clear()
                arg.update(new)


def namespace(link: Link, names: Any) -> dict[str, Any]:
    """The tests' globals: the code's top-level names as proxies, plain values, modules."""
    ns: dict[str, Any] = {"__name__": "tests", "__builtins__": builtins}
    module = types.ModuleType("solution")
    for entry in names if type(names) is list else []:
        if type(entry) is not list or len(entry) != 2 or type(entry[0]) is not str:
            continue
        name, data = entry
        try:
            if type(data) is list and data[:1] == ["m"] and type(data[1]) is str:
                if data[1].partition(".")[0] not in _SAFE_MODULES:
                    continue
                value = importlib.import_module(data[1])  # a trusted copy, not the code's
            else:
                value = decode(link, data)
        except (ImportError, ValueError, TypeError, RecursionError, IndexError):
            continue
        ns[name] = value
        setattr(module, name, value)
    sys.modules["solution"] = module
    return ns
