"""A user message in a model's own chat template (from its GGUF metadata)."""

from __future__ import annotations

from typing import Any

from orchbench.errors import BackendError


def chat_prompt(llm: Any, message: str, stop: list[str]) -> tuple[str, list[str]]:
    """``message`` as one user turn in ``llm``'s (a ``llama_cpp.Llama``) chat template, ready
    for the assistant's answer; the template's end-of-turn text joins ``stop``."""
    return chat_prompt_for(llm._model, message, stop)


def chat_prompt_for(model: Any, message: str, stop: list[str]) -> tuple[str, list[str]]:
    """:func:`chat_prompt` for a low-level ``llama_cpp._internals.LlamaModel``."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = model.metadata().get("tokenizer.chat_template")
    if not template:
        error = BackendError(
            'this model\'s GGUF has no chat template; give it prompt_style = "completion"'
        )
        error.retryable = False
        raise error
    eos, bos = model.token_eos(), model.token_bos()
    formatter = Jinja2ChatFormatter(
        template=template,
        eos_token=model.token_get_text(eos) if eos != -1 else "",
        bos_token=model.token_get_text(bos) if bos != -1 else "",
    )
    formatted = formatter(messages=[{"role": "user", "content": message}])
    ends = formatted.stop if isinstance(formatted.stop, list) else [formatted.stop]
    return formatted.prompt, stop + [e for e in ends if e and e not in stop]
