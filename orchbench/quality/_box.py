"""The untrusted side of the sandbox: loads the answer's code and serves calls into it.

This file runs as a script inside the sandbox (``python -I -S _box.py``), in the same
process as the model's code, so nothing it says is trusted: the judge
(:mod:`orchbench.quality._judge`) treats every reply as a value the model chose and decides
the verdict itself. It needs only the standard library and imports nothing from orchbench.

Protocol: one JSON line per message on private copies of stdin/stdout (fds 0-2 are pointed
at /dev/null before the code runs, so prints cannot garble it). First ``{"ready": names}``
or ``{"error": why}``; then, per request ``["call", handle, args, kwargs]``,
``["getattr", handle, name]`` or ``["op", name, handle, args]``, a reply
``["ok", value, args_after]`` or ``["exc", type_name, message]``. Values use the tagged
encoding of :func:`encode`; anything that is not plain data stays here as a numbered handle.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

MAX_DEPTH = 60
"""Deeper values are passed as handles."""
OPS = ("len", "getitem", "contains", "bool", "str", "repr", "iter")
"""Operations the judge may ask for on a handle (never ``==``: equality is the judge's)."""


class Handles:
    """Objects that stay in the box, numbered for the judge."""

    def __init__(self) -> None:
        self.objects: list[Any] = []
        self.ids: dict[int, int] = {}

    def add(self, obj: object) -> int:
        """The handle number of ``obj`` (a new one the first time)."""
        known = self.ids.get(id(obj))
        if known is not None and self.objects[known] is obj:
            return known
        self.objects.append(obj)
        self.ids[id(obj)] = len(self.objects) - 1
        return len(self.objects) - 1


def encode(value: Any, handles: Handles, depth: int = 0) -> list[Any]:
    """Tagged JSON for ``value``; subclasses of plain types are reduced to their base value."""
    if depth > MAX_DEPTH:
        return ["h", handles.add(value)]
    d = depth + 1
    if value is None:
        return ["n"]
    if isinstance(value, bool):
        return ["b", bool(value)]
    if isinstance(value, int):
        return ["i", int.__repr__(value)]
    if isinstance(value, float):
        return ["f", float.__repr__(value)]
    if isinstance(value, str):
        return ["s", str.__str__(value)]
    if isinstance(value, bytes):
        return ["y", bytes.hex(value)]
    if isinstance(value, list | tuple | set | frozenset):
        tag = {list: "l", tuple: "t", set: "S", frozenset: "F"}
        kind: Any = next(k for k in (list, tuple, set, frozenset) if isinstance(value, k))
        return [tag[kind], [encode(v, handles, d) for v in kind.__iter__(value)]]
    if isinstance(value, dict):
        return ["d", [[encode(k, handles, d), encode(v, handles, d)] for k, v in dict.items(value)]]
    return ["h", handles.add(value)]


def decode(data: Any, handles: Handles) -> Any:
    """The value the judge sent (its own arguments, or handles of objects kept here)."""
    tag = data[0]
    if tag == "n":
        return None
    if tag in ("b", "s"):
        return data[1]
    if tag == "i":
        return int(data[1])
    if tag == "f":
        return float(data[1])
    if tag == "y":
        return bytes.fromhex(data[1])
    if tag == "h":
        return handles.objects[data[1]]
    items = [decode(v, handles) for v in data[1]] if tag != "d" else []
    if tag == "l":
        return items
    if tag == "t":
        return tuple(items)
    if tag == "S":
        return set(items)
    if tag == "F":
        return frozenset(items)
    return {decode(k, handles): decode(v, handles) for k, v in data[1]}


def describe(exc: BaseException) -> list[str]:
    """``["exc", type name, message]`` for an exception raised by the code."""
    return ["exc", type(exc).__name__, str(exc)[:300]]


def serve(request: list[Any], handles: Handles) -> list[Any]:
    """Answer one request from the judge."""
    kind = request[0]
    if kind == "getattr":
        return ["ok", encode(getattr(handles.objects[request[1]], request[2]), handles), []]
    if kind == "op":
        target = handles.objects[request[2]]
        extra = [decode(a, handles) for a in request[3]]
        op = request[1]
        result: Any
        if op == "iter":
            result = list(iter(target))
        elif op == "getitem":
            result = target[extra[0]]
        elif op == "contains":
            result = extra[0] in target
        else:
            builtin: Any = {"len": len, "bool": bool, "str": str, "repr": repr}[op]
            result = builtin(target)
        return ["ok", encode(result, handles), []]
    args = [decode(a, handles) for a in request[2]]
    kwargs = {k: decode(v, handles) for k, v in request[3]}
    result = handles.objects[request[1]](*args, **kwargs)
    return ["ok", encode(result, handles), [encode(a, handles) for a in args]]


def main() -> None:
    """Load solution.py, report its names, then serve requests until stdin closes."""
    reader = os.fdopen(os.dup(0), "r", encoding="utf-8")
    writer = os.fdopen(os.dup(1), "w", encoding="utf-8")
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    handles = Handles()

    def send(message: object) -> None:
        writer.write(json.dumps(message) + "\n")
        writer.flush()

    namespace: dict[str, Any] = {"__name__": "solution"}
    try:
        with open("solution.py", encoding="utf-8") as fh:
            exec(compile(fh.read(), "solution.py", "exec"), namespace)
    except BaseException as exc:
        send({"error": f"the code raised {type(exc).__name__}: {exc}"[:300]})
        return
    names = []
    for name, value in list(namespace.items())[:10000]:
        if name.startswith("__"):
            continue
        if type(value) is type(sys):
            names.append([name, ["m", value.__name__]])
        else:
            names.append([name, encode(value, handles)])
    send({"ready": names})
    for line in reader:
        try:
            reply = serve(json.loads(line), handles)
        except BaseException as exc:
            reply = describe(exc)
        try:
            send(reply)
        except (TypeError, ValueError) as exc:
            send(describe(exc))


if __name__ == "__main__":
    main()
