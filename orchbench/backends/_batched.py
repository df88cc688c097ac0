"""One llama.cpp context serving up to ``num_parallel`` sequences with continuous batching.

This is how llama-server (and so Ollama, with ``OLLAMA_NUM_PARALLEL`` slots) serves a
model: one context, one KV cache split into ``n_seq_max`` sequences, and a loop in which
every step is a single ``llama_decode`` over one batch holding the next token of every
decoding sequence plus a chunk of each new prompt. A request joins at the next step and
leaves when it stops; its sequence's KV cells are freed (``llama_memory_seq_rm``) at
once, so a cancelled or timed-out sequence disturbs no other.

The loop runs in a worker thread of the context (:class:`BatchedContext`) while it has
sequences; an idle context ends its thread and the next sequence starts another, so an
idle context keeps no OpenMP team (:mod:`orchbench.backends._fresh`). The asyncio side
hands it :class:`~orchbench.backends._batched_seq.Sequence` objects through a thread-safe
queue and waits on each one's ``concurrent.futures.Future``. Timings are measured per
sequence: ``queue_s`` waiting for a free sequence, ``load_s`` the context build it waited
for, ``prompt_s`` from joining the batch to its first token, ``completion_s`` first token
to the end, token counts as decoded.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchbench.backends._batched_seq import Sequence, make_sampler, refused, token_piece
from orchbench.backends._llama_pool import _LOAD_LOCK
from orchbench.errors import BackendError, BackendTimeout, BackendUnavailable

BATCH_TOKENS = 128
"""Tokens per ``llama_decode`` call (decode tokens first, then prompt chunks). It also
sizes the logits buffer: Gemma's 262k-token vocabulary costs 1 MB per batch token."""


@dataclass(frozen=True, slots=True)
class ContextKey:
    """The settings a context was built with; a different key means a new context."""

    path: str
    n_threads: int
    n_ctx: int
    """Tokens per sequence (the model's ``n_ctx``)."""
    n_seq: int


class BatchedContext:
    """A llama.cpp context with ``key.n_seq`` sequences and the thread that decodes it."""

    def __init__(self, key: ContextKey, name: str, first_slot: int = 0) -> None:
        self.key = key
        self.name = name
        self.first_slot = first_slot
        """Results report ``instance = first_slot + seq_id``: a slot number unique per model."""
        self._inbox: queue.SimpleQueue[Sequence | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._load = 0  # sequences submitted and not finished
        self._dead: BackendError | None = None
        self.loaded = threading.Event()
        self.load_s = 0.0
        self._load_window: tuple[float, float] | None = None
        self._closed = threading.Event()
        self._serving = True  # the first worker loads the context, then serves
        self._start(self._open_and_serve)

    def _start(self, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"orchbench-batch-{self.name}")
        thread.daemon = True
        thread.start()

    # -- any thread ----------------------------------------------------------------------

    @property
    def load(self) -> int:
        """Sequences submitted to this context that have not finished."""
        with self._lock:
            return self._load

    def submit(self, seq: Sequence) -> None:
        """Queue ``seq``; it joins the batch at the next step with a free sequence."""
        with self._lock:
            if self._dead is not None:
                _fail(seq, self._dead)
                return
            self._load += 1
            self._inbox.put(seq)
            self._wake_locked()
        seq.future.add_done_callback(self._finished)

    @property
    def dead(self) -> bool:
        """True once the worker has stopped (retired, or its model failed to load)."""
        with self._lock:
            return self._dead is not None

    def retire(self) -> None:
        """Finish the sequences in flight, refuse new ones, then free the context."""
        with self._lock:
            self._inbox.put(None)
            self._wake_locked()

    def join(self, timeout: float | None = None) -> None:
        """Wait until the context is freed (after :meth:`retire`)."""
        self._closed.wait(timeout)

    def is_alive(self) -> bool:
        """Whether the context still holds its memory (not yet freed)."""
        return not self._closed.is_set()

    def _wake_locked(self) -> None:
        """Start a worker for what was just queued, unless one is serving."""
        if not self._serving and not self._closed.is_set():
            self._serving = True
            self._start(self._serve)

    def _finished(self, _future: object) -> None:
        with self._lock:
            self._load -= 1

    # -- the worker thread -----------------------------------------------------------------

    def _open_and_serve(self) -> None:
        try:
            self._open()
        except Exception as exc:  # a model that does not load fails the requests on it
            error = BackendError(f"llama.cpp failed to load model {self.name!r}: {exc}")
            self.loaded.set()
            self._stop(deque(), {}, error)
            self._closed.set()
            return
        self.loaded.set()
        self._serve()

    def _serve(self) -> None:
        """Decode until nothing is left to do, then end this thread (with its OpenMP team:
        see :mod:`orchbench.backends._fresh`); the next :meth:`submit` starts another.
        After :meth:`retire`, free the context instead. A worker that ends idle leaves
        nothing behind (no sequence, no retire seen), so each worker starts afresh."""
        waiting: deque[Sequence] = deque()
        active: dict[int, Sequence] = {}
        retiring = False
        error: BackendError = BackendUnavailable("this embedded backend is closed")
        try:
            while not (retiring and not active and not waiting):
                retiring = self._take(waiting, block=False) or retiring
                self._drop_cancelled(waiting, active)
                self._admit(waiting, active)
                if active:
                    self._step(active)
                elif not waiting and not retiring and self._idle():
                    return
        except BaseException:
            self._free(waiting, active, error)
            raise
        self._free(waiting, active, error)

    def _idle(self) -> bool:
        """True (and this worker is done) when nothing new has been queued."""
        with self._lock:
            if self._inbox.empty():
                self._serving = False
                return True
            return False

    def _free(
        self, waiting: deque[Sequence], active: dict[int, Sequence], error: BackendError
    ) -> None:
        try:
            self._stop(waiting, active, error)
            self._close()
        finally:
            self._closed.set()

    def _stop(
        self, waiting: deque[Sequence], active: dict[int, Sequence], error: BackendError
    ) -> None:
        """Refuse new sequences from now on and fail every one not finished."""
        with self._lock:
            self._dead = error
        self._take(waiting, block=False)
        for seq in list(active.values()) + list(waiting):
            _fail(seq, error)

    def _open(self) -> None:
        import llama_cpp
        from llama_cpp import _internals

        start = time.perf_counter()
        key = self.key
        with _LOAD_LOCK:
            model_params = llama_cpp.llama_model_default_params()
            self._model = _internals.LlamaModel(
                path_model=key.path, params=model_params, verbose=False
            )
            params = llama_cpp.llama_context_default_params()
            params.n_ctx = key.n_ctx * key.n_seq
            params.n_seq_max = key.n_seq
            params.n_batch = params.n_ubatch = min(BATCH_TOKENS, params.n_ctx)
            params.n_threads = params.n_threads_batch = key.n_threads
            params.no_perf = True
            # One KV cache shared by all sequences (as llama-server's --kv-unified) and
            # flash attention at llama.cpp's default (auto). Logits depend in their last
            # bits on the batch's shape (as in llama-server), so a near tie may decode
            # differently beside other sequences than alone; with per-sequence caches the
            # differences were larger (Gemma 3 270M, llama-cpp-python 0.3.36).
            params.kv_unified = True
            self._ctx = _internals.LlamaContext(model=self._model, params=params, verbose=False)
        self._vocab = self._model.vocab
        self._memory = llama_cpp.llama_get_memory(self._ctx.ctx)
        self._n_batch = int(params.n_batch)
        # llama.cpp raises a small n_ctx to its minimum; the one asked for is the bound.
        self._seq_ctx = min(int(llama_cpp.llama_n_ctx(self._ctx.ctx)) // key.n_seq, key.n_ctx)
        self._batch = llama_cpp.llama_batch_init(self._n_batch, 0, 1)
        self._free_ids = list(range(key.n_seq))
        end = time.perf_counter()
        self.load_s, self._load_window = end - start, (start, end)

    def _close(self) -> None:
        import llama_cpp

        if getattr(self, "_batch", None) is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if getattr(self, "_ctx", None) is not None:
            self._ctx.close()
            self._model.close()

    def _take(self, waiting: deque[Sequence], block: bool) -> bool:
        """Move new sequences from the inbox to ``waiting`` (waiting for one if ``block``);
        True when told to retire."""
        retire = False
        while True:
            try:
                item = self._inbox.get() if block else self._inbox.get_nowait()
            except queue.Empty:
                return retire
            if item is None:
                retire = True
            else:
                waiting.append(item)
            block = False

    def _drop_cancelled(self, waiting: deque[Sequence], active: dict[int, Sequence]) -> None:
        for seq in [s for s in waiting if s.cancel.is_set()]:
            waiting.remove(seq)
            _fail(seq, _stopped(seq))
        for seq in [s for s in active.values() if s.cancel.is_set()]:
            self._leave(active, seq)
            _fail(seq, _stopped(seq))

    def _admit(self, waiting: deque[Sequence], active: dict[int, Sequence]) -> None:
        while waiting and self._free_ids:
            seq = waiting.popleft()
            try:
                self._prepare(seq)
            except BackendError as exc:
                _fail(seq, exc)
                continue
            seq.seq_id = self._free_ids.pop(0)
            seq.joined = time.perf_counter()
            seq.load_s = self._waited_for_load(seq)
            seq.sampler = make_sampler(seq.request.temperature, seq.request.seed)
            active[seq.seq_id] = seq

    def _prepare(self, seq: Sequence) -> None:
        """Tokenize the prompt (in the model's chat template if it is a chat model)."""
        from orchbench.backends._chat import chat_prompt_for

        prompt, stop = seq.request.prompt, list(seq.request.stop)
        if seq.request.model.prompt_style == "chat":
            prompt, stop = chat_prompt_for(self._model, prompt, stop)
        seq.tokens = list(self._model.tokenize(prompt.encode(), True, True))
        if len(seq.tokens) >= self._seq_ctx:
            raise refused(
                f"the prompt has {len(seq.tokens)} tokens, more than model {seq.name!r}'s "
                f"context of {self._seq_ctx}: raise its n_ctx or shorten the prompt"
            )
        seq.stop = [s for s in stop if s]
        seq.max_tokens = min(seq.request.max_tokens, self._seq_ctx - len(seq.tokens))

    def _waited_for_load(self, seq: Sequence) -> float:
        if self._load_window is None:
            return 0.0
        begin, end = self._load_window
        return max(0.0, end - max(seq.arrived, begin))

    def _leave(self, active: dict[int, Sequence], seq: Sequence) -> None:
        """Free ``seq``'s sequence id, KV cells and sampler."""
        import llama_cpp

        active.pop(seq.seq_id, None)
        llama_cpp.llama_memory_seq_rm(self._memory, seq.seq_id, -1, -1)
        if seq.sampler is not None:
            llama_cpp.llama_sampler_free(seq.sampler)
            seq.sampler = None
        self._free_ids.append(seq.seq_id)

    def _step(self, active: dict[int, Sequence]) -> None:
        """One ``llama_decode``: every decoding sequence's next token, then prompt chunks."""
        import llama_cpp

        outputs = self._fill_batch(active)
        try:
            status = llama_cpp.llama_decode(self._ctx.ctx, self._batch)
            if status != 0:
                raise RuntimeError(f"llama_decode returned {status}")
        except Exception as exc:
            for seq in list(active.values()):
                self._leave(active, seq)
                _fail(seq, BackendError(f"llama.cpp failed on model {seq.name!r}: {exc}"))
            return
        now = time.perf_counter()
        for index, seq in outputs:
            self._sample(active, seq, index, now)

    def _fill_batch(self, active: dict[int, Sequence]) -> list[tuple[int, Sequence]]:
        batch, outputs = self._batch, []
        batch.n_tokens = 0
        prefilling = []
        for seq in active.values():
            if seq.next_token is not None:
                outputs.append((_add(batch, seq.next_token, seq.pos, seq.seq_id, True), seq))
                seq.pos += 1
                seq.next_token = None
            elif seq.prefilled < len(seq.tokens):
                prefilling.append(seq)
        for seq in prefilling:
            room = self._n_batch - batch.n_tokens
            if room <= 0:
                break
            chunk = seq.tokens[seq.prefilled : seq.prefilled + room]
            for offset, token in enumerate(chunk):
                last = seq.prefilled + offset == len(seq.tokens) - 1
                index = _add(batch, token, seq.pos, seq.seq_id, last)
                seq.pos += 1
                if last:
                    outputs.append((index, seq))
            seq.prefilled += len(chunk)
        return outputs

    def _sample(self, active: dict[int, Sequence], seq: Sequence, index: int, now: float) -> None:
        import llama_cpp

        token = llama_cpp.llama_sampler_sample(seq.sampler, self._ctx.ctx, index)
        if seq.first is None:
            seq.first = now
        finish = None
        if llama_cpp.llama_vocab_is_eog(self._vocab, token):
            finish = "stop"
        else:
            seq.generated += 1
            seq.token_times.append(now - seq.start)
            if seq.add_piece(token_piece(self._vocab, token)):
                finish = "stop"
            elif seq.generated >= seq.max_tokens:
                finish = "length"
        if finish is None:
            seq.next_token = token
            return
        self._leave(active, seq)
        if not seq.future.done():
            result = seq.result(finish, time.perf_counter())
            result.instance = self.first_slot + seq.seq_id
            seq.future.set_result(result)


def _add(batch: Any, token: int, pos: int, seq_id: int, logits: bool) -> int:
    i = int(batch.n_tokens)
    batch.token[i] = token
    batch.pos[i] = pos
    batch.n_seq_id[i] = 1
    batch.seq_id[i][0] = seq_id
    batch.logits[i] = logits
    batch.n_tokens = i + 1
    return i


def _stopped(seq: Sequence) -> BackendTimeout:
    return BackendTimeout(f"model {seq.name!r} (embedded, batched) was stopped by its timeout")


def _fail(seq: Sequence, error: BaseException) -> None:
    if seq.sampler is not None:
        import llama_cpp

        llama_cpp.llama_sampler_free(seq.sampler)
        seq.sampler = None
    if not seq.future.done():
        seq.future.set_exception(error)
