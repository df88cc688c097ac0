"""The calibration's measuring loop, with a fake engine (named so: no model runs)."""

from __future__ import annotations

import asyncio

from orchbench.calibrate._measure import WARM_TOKENS, measure, measurement_plan
from orchbench.calibrate._rounds import Round
from orchbench.engine import GenerateRequest, GenerateResult
from orchbench.profiles import load_profile
from orchbench.testing import FakeBackend


class Recording(FakeBackend):
    """The fake engine, remembering every request it was sent."""

    def __init__(self) -> None:
        super().__init__(latency=0.001, completion_tokens=8)
        self.requests: list[GenerateRequest] = []

    async def generate(self, request: GenerateRequest) -> GenerateResult:
        self.requests.append(request)
        return await super().generate(request)


def test_every_round_is_preceded_by_an_untimed_short_generation_on_each_copy():
    profile = load_profile("embedded")
    engine = Recording()
    round_ = Round("gemma3-270m: 2 instances", ("gemma3-270m",), 2, 1, 48)
    observations = asyncio.run(measure(profile, engine, [round_, round_]))
    timed = [o for o in observations if o.timings]
    assert [len(o.timings) for o in timed] == [2, 2]
    assert [r.max_tokens for r in engine.requests] == [WARM_TOKENS] * 2 + [48] * 2 + [
        WARM_TOKENS
    ] * 2 + [48] * 2
    prompts = [r.prompt for r in engine.requests]
    assert len(set(prompts)) == len(prompts)  # no prompt a cache could answer


def test_the_plan_oversubscribes_a_small_cpu_up_to_twice_its_cores():
    profile = load_profile("embedded")  # 2 cores
    labels = {r.label for r in measurement_plan(profile, "embedded")}
    assert "gemma3-270m: 4 instances" in labels
    assert "gemma3-270m: 5 instances" not in labels


def test_a_check_pass_runs_after_each_repeat_of_the_plan():
    from orchbench.calibrate._fidelity import CheckConfig, CheckRuns
    from orchbench.calibrate._measure import calibrate
    from orchbench.config import TaskType
    from orchbench.records import TaskSpec

    profile = load_profile("embedded")
    engine = Recording()
    tasks = [TaskSpec(TaskType.CODING, "def check_task(x):\n", max_tokens=8)]
    check = CheckRuns(profile, tasks, [CheckConfig(1, 1, 1)], passes=3)
    # The fake engine's rounds determine no parameter: keep the fit (strict=False).
    asyncio.run(calibrate(profile, engine, engine="embedded", repeats=2, check=check, strict=False))
    assert [len(r) for r in check.runs] == [3]  # 2 between the repeats, 1 after them
    order = ["check" if r.prompt.startswith("def check_task") else "plan" for r in engine.requests]
    blocks = [kind for i, kind in enumerate(order) if i == 0 or order[i - 1] != kind]
    assert blocks == ["plan", "check", "plan", "check"]  # the last two passes back to back
    assert order.count("check") == 3
