"""Every task result carries its tests verdict (``tests_passed``), decided by the real
sandbox from the fake engine's answers (the engine is fake, the scoring is not)."""

from __future__ import annotations

from orch_helpers import make_profile, model

from orchbench import get_orchestrator
from orchbench.errors import BackendError
from orchbench.records import QualityChecks
from orchbench.scheduler import Orchestrator, run_sync
from orchbench.testing import FakeBackend

CHECKS = QualityChecks(tests="assert add(2, 3) == 5\nassert add(0, 0) == 0\n")
PROMPT = "def add(a, b):\n"


def test_a_passing_answer_passes_and_a_wrong_one_fails() -> None:
    fake = FakeBackend(text="    return a + b\n")
    orch = get_orchestrator("embedded", backend=fake)
    good = run_sync(orch.execute_task("coding", PROMPT, checks=CHECKS))
    fake.text = "    return a * b\n"  # add(0, 0) passes, add(2, 3) does not
    wrong = run_sync(orch.execute_task("coding", PROMPT, checks=CHECKS))
    assert good.tests_passed is True and wrong.tests_passed is False
    assert good.to_dict()["tests_passed"] is True


def test_a_task_without_tests_has_no_verdict() -> None:
    orch = get_orchestrator("embedded", backend=FakeBackend(text="    return a + b\n"))
    result = run_sync(orch.execute_task("coding", PROMPT))
    assert result.success and result.tests_passed is None


def test_a_task_with_tests_that_got_no_answer_failed_them() -> None:
    profile = make_profile({"only": model(prompt_style="completion")}, retry_attempts=1)
    fake = FakeBackend(failures={"only": BackendError("engine broke")})
    result = run_sync(Orchestrator(profile, fake).execute_task("coding", PROMPT, checks=CHECKS))
    assert not result.success and result.tests_passed is False


def test_a_scorer_that_breaks_fails_the_tests_and_a_plain_score_gives_no_verdict() -> None:
    profile = make_profile({"only": model(prompt_style="completion")})
    fake = FakeBackend(text="    return a + b\n")

    def broken(*args: object, **kwargs: object) -> float:
        raise RuntimeError("scorer broke")

    failed = run_sync(Orchestrator(profile, fake, scorer=broken).execute_task(
        "coding", PROMPT, checks=CHECKS))  # fmt: skip
    plain = run_sync(Orchestrator(profile, fake, scorer=lambda *a, **k: 0.9).execute_task(
        "coding", PROMPT, checks=CHECKS))  # fmt: skip
    assert failed.tests_passed is False and failed.quality_score == 0.0
    assert plain.tests_passed is None and plain.quality_score == 0.9
