"""llama.cpp's and ggml's log lines go to the ``orchbench.llama`` logger at DEBUG.

llama.cpp has one log sink per process (``llama_log_set``), and llama-cpp-python's own sink
prints warnings such as ``llama_kv_cache_iswa: using full-size SWA cache`` on stderr even
with ``verbose=False`` (its level table predates ggml's current one). :func:`route_llama_logs`
installs a sink that hands every line to :mod:`logging` instead, so ``orchbench run`` prints
only its own output and ``-v`` (DEBUG) shows llama.cpp's.

The ctypes callback must outlive every llama.cpp call that may log, in any thread, so it is
made once per process on first use and every engine keeps a reference to it.
"""

from __future__ import annotations

import ctypes
import functools
import logging
from typing import Any

logger = logging.getLogger("orchbench.llama")


def _forward(level: int, text: bytes | None, _user_data: Any) -> None:
    if not text or not logger.isEnabledFor(logging.DEBUG):
        return
    line = text.decode("utf-8", errors="replace").rstrip("\n")
    if line:
        logger.debug("%s", line)


@functools.cache
def _callback() -> Any:
    import llama_cpp

    return llama_cpp.llama_log_callback(_forward)


def route_llama_logs() -> Any:
    """Point llama.cpp's log sink at the ``orchbench.llama`` logger; return the callback
    (keep it referenced while llama.cpp may log)."""
    import llama_cpp

    callback = _callback()
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
    return callback
