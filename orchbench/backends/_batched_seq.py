"""One sequence of a batched llama.cpp context: its request, sampler, text and clocks.

A :class:`Sequence` is created on the asyncio side (:func:`new_sequence`) and then
touched only by its context's worker thread: it is prefilled in chunks, then gets one
token per decode step until an end-of-generation token, a stop string, ``max_tokens``
or the end of its share of the context. Every clock is ``time.perf_counter()``.
"""

from __future__ import annotations

import codecs
import ctypes
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendError
from orchbench.records import Timings


@dataclass(eq=False)
class Sequence:
    """A request decoded as one llama.cpp sequence (``seq_id``) of a shared context."""

    request: GenerateRequest
    cancel: threading.Event
    start: float
    """When ``generate`` was called."""
    future: Future[GenerateResult] = field(default_factory=Future)
    arrived: float = field(default_factory=time.perf_counter)
    seq_id: int = -1
    tokens: list[int] = field(default_factory=list)
    """The prompt's tokens; ``prefilled`` of them are in the KV cache."""
    prefilled: int = 0
    pos: int = 0
    next_token: int | None = None
    """The sampled token to feed at the next decode step."""
    stop: list[str] = field(default_factory=list)
    max_tokens: int = 0
    sampler: Any = None
    generated: int = 0
    token_times: list[float] = field(default_factory=list)
    """When each completion token was sampled, seconds since ``start``."""
    text: str = ""
    joined: float | None = None
    first: float | None = None
    load_s: float = 0.0
    _decoder: Any = field(default_factory=lambda: codecs.getincrementaldecoder("utf-8")("replace"))

    @property
    def name(self) -> str:
        """The model's name, for messages."""
        return self.request.model.name

    def add_piece(self, piece: bytes) -> bool:
        """Append a token's bytes; True (and the text cut before it) if a stop string appeared."""
        before = len(self.text)
        self.text += self._decoder.decode(piece)
        if not self.stop:
            return False
        longest = max(len(s) for s in self.stop)
        window = max(0, before - longest + 1)
        hits = [i for i in (self.text.find(s, window) for s in self.stop) if i >= 0]
        if hits:
            self.text = self.text[: min(hits)]
            return True
        return False

    def result(self, finish: str, end: float) -> GenerateResult:
        """The measured result of a sequence that stopped at ``end``."""
        first = self.first
        joined = self.joined if self.joined is not None else end
        return GenerateResult(
            text=self.text,
            timings=Timings(
                total_s=end - self.start,
                load_s=self.load_s,
                ttft_s=(first - self.start) if first is not None else None,
                prompt_tokens=len(self.tokens),
                prompt_s=(first - joined) if first is not None else None,
                completion_tokens=self.generated,
                completion_s=(end - first) if first is not None else None,
                queue_s=max(0.0, joined - self.start - self.load_s),
                token_times=list(self.token_times),
            ),
            finish_reason=finish,
            instance=self.seq_id,
        )


def new_sequence(request: GenerateRequest, cancel: threading.Event, start: float) -> Sequence:
    """A sequence for ``request`` (tokenized later, by the worker that owns the model)."""
    return Sequence(request=request, cancel=cancel, start=start)


def make_sampler(temperature: float, seed: int | None) -> Any:
    """A llama.cpp sampler chain: greedy at temperature 0, else temperature + seeded draw."""
    import llama_cpp

    chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
    if temperature <= 0:
        llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_greedy())
        return chain
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_temp(temperature))
    draw_seed = seed if seed is not None else llama_cpp.LLAMA_DEFAULT_SEED
    llama_cpp.llama_sampler_chain_add(chain, llama_cpp.llama_sampler_init_dist(draw_seed))
    return chain


def token_piece(vocab: Any, token: int) -> bytes:
    """The bytes of ``token`` (special tokens render as nothing)."""
    import llama_cpp

    buf = ctypes.create_string_buffer(64)
    n = llama_cpp.llama_token_to_piece(vocab, token, buf, 64, 0, False)
    if n < 0:  # a longer piece: llama.cpp says how long
        buf = ctypes.create_string_buffer(-n)
        n = llama_cpp.llama_token_to_piece(vocab, token, buf, -n, 0, False)
    return buf.raw[:n]


def refused(message: str) -> BackendError:
    """A BackendError that retrying cannot fix (the prompt does not fit, ...)."""
    error = BackendError(message)
    error.retryable = False
    return error
