"""The tables say what produced them and show every promised metric."""

import io

from rich.console import Console

from orchbench.bench.table import model_table, provenance, render, speedup_line


def _summary(**over):
    median = {
        "total_s": 10.0,
        "tasks": 4,
        "tasks_per_s": 0.4,
        "completion_tokens": 100,
        "tokens_per_s": 10.0,
        "p50_latency_s": 2.0,
        "p95_latency_s": 3.5,
        "mean_ttft_s": 0.2,
        "mean_queue_s": 0.0,
        "mean_quality": 0.75,
        "failures": 1,
        "per_type_s": {"coding": 2.5},
    }
    summary = {
        "status": "complete",
        "backend": "embedded",
        "measured": True,
        "repeat": 3,
        "machine": {"cpu": "Test CPU", "cpu_cores_logical": 2, "ram_gb": 24},
        "profile": {"name": "embedded"},
        "suite": {"name": "smoke", "tasks": 4},
        "modes": {
            "sequential": {"runs": [], "median": median},
            "parallel": {"runs": [], "median": {**median, "total_s": 8.0}},
        },
        "speedup": {"median": 1.25, "min": 1.1, "max": 1.3, "values": [1.1, 1.25, 1.3]},
        "models": {
            "gemma3-270m": {
                "mean_service_s": 0.5,
                "mean_ttft_s": 0.1,
                "decode_rate": 50.0,
                "mean_quality": 0.8,
                "failures": 0,
                "best_types": ["coding"],
            }
        },
    }
    summary.update(over)
    return summary


def _text(renderable):
    buffer = io.StringIO()
    Console(file=buffer, width=160, color_system=None).print(renderable)
    return buffer.getvalue()


def test_measured_run_tables():
    text = _text(render(_summary()))
    for expected in (
        "Total time",
        "10.00 s",
        "8.00 s",
        "Tasks / s",
        "Output tokens / s",
        "Decode rate",
        "50.00",
        "Latency p95",
        "3.50 s",
        "Mean quality",
        "0.75",
        "Failures",
        "coding (mean latency)",
        "measured on embedded",
        "Test CPU",
        "median of 3 repeats",
        "1.21× [",  # geometric mean of the 3 pairs with its interval
        "(95 % CI, 3 pairs; total time sequential / parallel)",
        "Model Performance",
        "gemma3-270m",
        "500 ms",
    ):
        assert expected in text, expected
    assert "SIMULATED" not in text


def test_simulated_and_partial_runs_say_so():
    summary = _summary(
        backend="sim", measured=False, status="partial", stopped="interrupted (Ctrl-C)"
    )
    summary["profile"]["hardware"] = {"name": "RTX 4090"}
    assert provenance(summary).startswith("SIMULATED (sim) · modelled hardware: RTX 4090")
    assert "PARTIAL: interrupted" in provenance(summary)
    assert "SIMULATED" in _text(speedup_line(summary))
    text = _text(render(summary))
    assert "n/a (sim)" in text and "0.75" not in text and "0.80" not in text


def test_nothing_ran():
    summary = _summary(modes={}, models={}, speedup={"median": None})
    assert speedup_line(summary) is None and model_table(summary) is None
    assert "no mode finished" in _text(render(summary))


def test_goodput_rows_appear_only_with_slos():
    summary = _summary()
    summary["modes"]["parallel"]["median"] |= {"goodput": 0.3, "slo_attainment_pct": 75.0}
    assert "Goodput" not in _text(render(summary))
    text = _text(render({**summary, "slo": {"ttft_ms": 500.0}}))
    assert "Goodput" in text and "75.0 %" in text and "SLO attainment" in text


def test_latency_table_lists_overall_models_and_types():
    from orchbench.bench.table import latency_table

    summary = _summary()
    median = summary["modes"]["parallel"]["median"]
    median["p99_ttft_s"] = 0.9
    median["by_model"] = {"gemma3-270m": {"p99_ttft_s": 0.7, "mean_tpot_s": 0.02}}
    median["by_task_type"] = {"coding": {"p99_ttft_s": 0.8}}
    text = _text(latency_table(summary))
    assert "TTFT p99" in text and "Mean TPOT" in text
    for row, value in (("all tasks", "900 ms"), ("gemma3-270m", "700 ms"), ("coding", "800 ms")):
        line = next(line for line in text.splitlines() if row in line)
        assert value in line
    assert latency_table(summary, mode="model:x") is None


def test_a_sweep_with_slos_shows_goodput_per_point_and_the_best_rate():
    points = [
        {"mode": "parallel", "point": "rate-1", "kind": "sweep", "offered_rate": 0.5,
         "goodput": 0.5, "slo_attainment_pct": 100.0},
        {"mode": "parallel", "point": "rate-2", "kind": "sweep", "offered_rate": 1.0,
         "goodput": 0.4, "slo_attainment_pct": 40.0},
    ]  # fmt: skip
    summary = _summary(points=points, load={"kind": "sweep"}, slo={"e2el_ms": 60000.0})
    text = _text(render({**summary, "slo_best_rate": 0.5}))
    assert "40.0 %" in text and "Goodput" in text
    assert "Best rate meeting the SLOs (e2el_ms=60000): 0.5 tasks/s" in text
    assert "no point met them" in _text(render({**summary, "slo_best_rate": None}))
