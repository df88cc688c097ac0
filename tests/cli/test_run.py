"""`orchbench run`: bad input is one clear error and exit 2; a run leaves a results folder."""

import json
import re
import signal
import subprocess
import sys
import time

import pytest

from orchbench.cli import main


def _run_cli(capsys, *args):
    code = main(["run", *args])
    captured = capsys.readouterr()
    return code, " ".join(captured.err.split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--profile", "no-such-profile"], "no profile named 'no-such-profile'"),
        (["--suite", "no-such-suite"], "no suite named 'no-such-suite'"),
        (["--backend", "warp"], "--backend 'warp' is not valid"),
        (["--mode", "fast"], "--mode 'fast' is not valid"),
    ],
)
def test_bad_input_is_one_error_and_exit_2(capsys, args, expected):
    code, err = _run_cli(capsys, *args)
    assert code == 2
    assert "error:" in err and expected in err
    assert "Traceback" not in err


def test_a_chat_suite_on_base_models_only_is_refused(capsys, tmp_path):
    from orchbench.profiles import find_profile

    text = (
        find_profile("embedded")
        .read_text()
        .replace('prompt_style = "chat"', "prompt_style = 'completion'")
    )
    base = tmp_path / "base.toml"
    base.write_text(text)
    code, err = _run_cli(capsys, "--profile", str(base), "--suite", "dev-pipeline")
    assert code == 2
    assert "cannot follow chat prompts" in err and "code-completion" in err
    assert "Traceback" not in err


# What pytest, pytest-benchmark and Python's warnings print; none of it may reach a user.
FOREIGN = re.compile(
    r"\d+ (passed|failed|errors?)(,| in )|^\.+$|\[100%\]|={5,}|!{4,}|KeyboardInterrupt"
    r"|Rounds|Wrote benchmark data|benchmark '|Warning|Traceback|test session starts",
    re.MULTILINE,
)


def _foreign_lines(text):
    return [line for line in text.splitlines() if FOREIGN.search(line)]


def _orchbench(tmp_path, *args, python=()):
    return subprocess.run(
        [
            sys.executable,
            *python,
            "-m",
            "orchbench",
            "run",
            *args,
            "--out",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )


def test_run_on_the_fake_engine_end_to_end(tmp_path):
    done = _orchbench(
        tmp_path,
        "--profile",
        "embedded",
        "--backend",
        "fake",
        "--suite",
        "smoke",
        "--repeat",
        "2",
        "--seed",
        "7",
        "--mode",
        "all",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in (
        "Total time",
        "Speedup parallel vs sequential",
        "Model Performance",
        "SIMULATED (fake)",
        "results: ",
    ):
        assert expected in done.stdout, expected
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "complete"
    modes = {"sequential", "parallel", "model:gemma3-270m", "model:smollm2-135m"}
    assert set(summary["modes"]) == modes
    assert len(summary["speedup"]["values"]) == 2
    assert summary["seed"] == 7 and summary["profile"]["settings"]["seed"] == 7
    assert not (run_dir / "benchmark.json").exists()  # no one-round pytest-benchmark table


def test_run_prints_only_its_own_output(tmp_path):
    done = _orchbench(
        tmp_path,
        "--profile",
        "embedded",
        "--backend",
        "fake",
        "--suite",
        "smoke",
        "--repeat",
        "1",
        python=("-W", "default"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert _foreign_lines(done.stdout) == []
    assert _foreign_lines(done.stderr) == []
    # results on stdout, progress on stderr
    assert "Speedup parallel vs sequential" in done.stdout and "results: " in done.stdout
    assert "repeat 1" in done.stderr and "repeat 1" not in done.stdout


def test_verbose_shows_pytests_own_output(tmp_path):
    done = _orchbench(
        tmp_path,
        "--profile",
        "embedded",
        "--backend",
        "fake",
        "--suite",
        "smoke",
        "--repeat",
        "1",
        "--verbose",
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout


def test_a_failed_check_is_one_line_and_exit_1(tmp_path):
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_gate.py").write_text(
        "def test_impossible_speedup(bench_run):\n    assert bench_run.speedup >= 100\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "orchbench",
            "run",
            "--backend",
            "fake",
            "--suite",
            "smoke",
            "--repeat",
            "1",
            "--out",
            str(tmp_path / "results"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("failed:")]
    assert "test_impossible_speedup" in line and ">= 100" in line
    assert _foreign_lines(done.stdout) == []


def test_ctrl_c_stops_with_130_and_a_partial_summary(tmp_path):
    command = [
        sys.executable,
        "-m",
        "orchbench",
        "run",
        "--profile",
        "embedded",
        "--backend",
        "fake",
        "--suite",
        "smoke",
        "--repeat",
        "200",
        "--out",
        str(tmp_path / "results"),
    ]
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    summary = None
    for _ in range(1800):  # wait (at most 3 minutes: a loaded machine) for the first mode
        time.sleep(0.1)
        found = list((tmp_path / "results").glob("*/summary.json"))
        if found:
            summary = found[0]
            break
    assert summary is not None, "the run never started"
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=120)
    finally:  # a run that ignored the signal must not outlive (or leak pipes into) the suite
        proc.kill()
        proc.communicate()
    assert proc.returncode == 130, out + err
    assert "interrupted" in err
    assert _foreign_lines(out) == [] and _foreign_lines(err) == []
    assert json.loads(summary.read_text())["status"] == "partial"
    assert "(partial)" in out


@pytest.mark.embedded
def test_run_on_the_bundled_model_end_to_end(tmp_path):
    done = _orchbench(
        tmp_path,
        "--profile",
        "embedded",
        "--suite",
        "smoke",
        "--repeat",
        "1",
        python=("-W", "default"),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # no pytest output, and no ResourceWarning for llama-cpp-python's /dev/null at exit
    assert _foreign_lines(done.stdout) == [] and _foreign_lines(done.stderr) == []
    assert "measured on embedded" in done.stdout
    llama = [line for line in (done.stdout + done.stderr).splitlines() if "llama_" in line]
    assert not llama, llama  # llama.cpp's log lines go to the orchbench.llama logger
    (run_dir,) = (tmp_path / "results").iterdir()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["backend"] == "embedded" and summary["measured"] is True
    assert summary["modes"]["parallel"]["median"]["tasks"] == 3
    assert summary["modes"]["sequential"]["median"]["completion_tokens"] > 0
    assert summary["speedup"]["median"] > 0
    records = (run_dir / "records.jsonl").read_text().splitlines()
    assert len(records) >= 6 and all(json.loads(r)["backend"] == "embedded" for r in records)


# Runs fail loudly: faults injected by a stand-in Ollama server (tests/cli/ollama_faults.py).
@pytest.fixture
def faulty_server():
    from pytest_httpserver import HTTPServer

    server = HTTPServer(threaded=True)
    server.start()
    yield server
    if server.is_running():
        server.stop()


def _run_on_faulty(tmp_path, server, **faults):
    from ollama_faults import FaultyOllama, write_faulty_profile

    models = ["alpha:1b", "beta:1b"]
    stand_in = FaultyOllama(server, models, **faults)
    profile = write_faulty_profile(tmp_path, stand_in.host, models)
    done = _orchbench(
        tmp_path, "--profile", str(profile), "--backend", "ollama", "--suite", "smoke",
        "--repeat", "2", "--warmup", "0",
    )  # fmt: skip
    run_dirs = list((tmp_path / "results").iterdir())
    assert len(run_dirs) == 1, done.stdout + done.stderr
    return done, run_dirs[0], stand_in


@pytest.mark.parametrize("status", [503, 500, 404])
def test_a_model_failing_its_warm_up_is_left_out_and_the_run_completes(
    tmp_path, faulty_server, status
):
    done, run_dir, _ = _run_on_faulty(tmp_path, faulty_server, warmup_faults={"alpha:1b": status})
    assert done.returncode == 4, done.stdout + done.stderr  # degraded
    assert "model alpha:1b is unavailable for this run" in done.stderr
    assert f"HTTP {status}" in done.stderr or "not installed" in done.stderr
    assert "Traceback" not in done.stderr and not re.search(r"^E ", done.stderr, re.M)
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "degraded" and list(summary["unavailable_models"]) == ["alpha:1b"]
    tasks = [json.loads(line) for line in (run_dir / "tasks.jsonl").read_text().splitlines()]
    assert len(tasks) == 3 * 2 * 2 and {t["model_name"] for t in tasks} == {"beta:1b"}
    assert all(t["success"] for t in tasks)
    assert "Speedup parallel vs sequential" in done.stdout and "DEGRADED" in done.stdout


def test_a_server_dying_after_warm_up_fails_the_run_with_no_speedup(tmp_path, faulty_server):
    done, run_dir, stand_in = _run_on_faulty(tmp_path, faulty_server, die_after_warmup=True)
    assert stand_in.warm_ups == ["alpha:1b", "beta:1b"]
    assert done.returncode == 3, done.stdout + done.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed" and "3 of 3 tasks failed" in summary["stopped"]
    assert summary["speedup"]["estimate"] is None and summary["speedup"]["withheld"]
    assert "Speedup parallel vs sequential: not reported" in done.stdout
    assert not re.search(r"\d\.\d+×", done.stdout)  # no speedup number anywhere
    assert "run failed" in done.stderr and "Traceback" not in done.stderr
    assert (run_dir / "tasks.jsonl").is_file()


def test_sigterm_stops_with_143_a_partial_summary_and_no_temp_dirs(tmp_path):
    import os

    tmp = tmp_path / "tmp"
    tmp.mkdir()
    command = [
        sys.executable, "-m", "orchbench", "run", "--profile", "embedded", "--backend",
        "fake", "--suite", "smoke", "--repeat", "200", "--out", str(tmp_path / "results"),
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
    )
    summary = None
    for _ in range(1800):  # wait (at most 3 minutes: a loaded machine) for the first mode
        time.sleep(0.1)
        found = list((tmp_path / "results").glob("*/summary.json"))
        if found:
            summary = found[0]
            break
    assert summary is not None, "the run never started"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "terminated" in err and "Traceback" not in err
    assert _foreign_lines(out) == [] and _foreign_lines(err) == []
    data = json.loads(summary.read_text())
    assert data["status"] == "partial" and data["stopped"] == "terminated (SIGTERM)"
    assert list(tmp.iterdir()) == []  # the sandbox's temporary folders are gone
