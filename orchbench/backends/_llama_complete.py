"""One streamed completion on a ``llama_cpp.Llama`` instance, measured (the embedded
engine's instance mode; see :mod:`orchbench.backends._embedded` for what each timing means).

Runs in a worker thread; ``cancel`` stops it at the next token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from orchbench.backends._chat import chat_prompt
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.errors import BackendError, BackendTimeout
from orchbench.records import Timings


class _SampledCounter:
    """Counts the tokens llama.cpp samples (it asks the stopping criteria after each one)
    and stops the generation when ``cancel`` is set."""

    def __init__(self, cancel: threading.Event) -> None:
        self.cancel = cancel
        self.count = 0

    def stop_if_cancelled(self, _ids: Any, _logits: Any) -> bool:
        self.count += 1
        return self.cancel.is_set()


def complete(
    llm: Any,
    request: GenerateRequest,
    cancel: threading.Event,
    start: float,
    began: float,
    load_s: float,
    index: int,
) -> GenerateResult:
    """Stream one completion on ``llm``, checking ``cancel`` at every token."""
    from llama_cpp import StoppingCriteriaList

    gen_start = time.perf_counter()
    prompt, stop = request.prompt, list(request.stop)
    if request.model.prompt_style == "chat":
        prompt, stop = chat_prompt(llm, request.prompt, stop)
    prompt_tokens = len(llm.tokenize(prompt.encode(), add_bos=True, special=True))
    # llama.cpp raises a small n_ctx to its minimum, but llama-cpp-python sizes its own
    # buffers by the n_ctx asked for: the smaller one is the real bound.
    n_ctx = min(llm.n_ctx(), llm.context_params.n_ctx)
    if prompt_tokens >= n_ctx:
        error = BackendError(
            f"the prompt has {prompt_tokens} tokens, more than model {request.model.name!r}'s "
            f"context of {n_ctx}: raise its n_ctx or shorten the prompt"
        )
        error.retryable = False
        raise error
    sampled = _SampledCounter(cancel)
    # The context bounds prompt plus answer; past it llama.cpp fails, so cut the answer.
    limit = min(request.max_tokens, n_ctx - prompt_tokens)
    stream = llm.create_completion(
        prompt,
        max_tokens=limit,
        temperature=request.temperature,
        stop=stop or None,
        seed=request.seed,
        stream=True,
        stopping_criteria=StoppingCriteriaList([sampled.stop_if_cancelled]),
    )
    parts: list[str] = []
    first: float | None = None
    finish: str | None = None
    arrived: list[float] = []  # each streamed piece: one token, bar a held-back UTF-8 tail
    try:
        for chunk in stream:
            now = time.perf_counter()
            if first is None:
                first = now
            choice = chunk["choices"][0]
            if choice["text"]:  # the closing chunk carries only the finish reason
                arrived.append(now - start)
            parts.append(choice["text"])
            finish = choice.get("finish_reason") or finish
            if cancel.is_set():
                break
    finally:
        stream.close()
    if cancel.is_set():
        raise BackendTimeout(f"model {request.model.name!r} (embedded) was stopped by its timeout")
    end = time.perf_counter()
    text = "".join(parts)
    # At max_tokens llama-cpp-python samples one more token before it stops.
    completion_tokens = min(sampled.count, limit) or len(
        llm.tokenize(text.encode(), add_bos=False, special=True)
    )
    return GenerateResult(
        text=text,
        timings=Timings(
            total_s=end - start,
            load_s=load_s,
            ttft_s=(first - start) if first is not None else None,
            prompt_tokens=prompt_tokens,
            prompt_s=(first - gen_start) if first is not None else None,
            completion_tokens=completion_tokens,
            completion_s=(end - first) if first is not None else None,
            queue_s=began - start,
            token_times=arrived or None,
        ),
        finish_reason=finish,
        instance=index,
    )
