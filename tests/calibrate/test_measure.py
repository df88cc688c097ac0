"""The calibration's measuring loop, with a fake engine (named so: no model runs)."""

from __future__ import annotations

import asyncio

from orchbench.calibrate._fit import Round
from orchbench.calibrate._measure import WARM_TOKENS, measure, measurement_plan
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
