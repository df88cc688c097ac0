"""`orchbench tune` on the command line: help with examples, bad input is one line + exit 2."""

import pytest

from orchbench.cli import main


def test_help_has_examples(capsys):
    assert main(["tune", "--help"]) == 0
    out = capsys.readouterr().out
    assert "Examples" in out
    assert "orchbench tune --profile embedded" in out
    for option in ("--objective", "--constraint", "--storage", "--verify-backend", "--pick"):
        assert option in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--objective", "speed"], "unknown objective 'speed'"),
        (["--constraint", "p95 below 3"], "cannot parse"),
        (["--constraint", "latency<3s"], "unknown metric 'latency'"),
        (["--constraint", "pass1>=0.05"], "metrics: p95, p50, ttft, makespan, quality, pass_at_1"),
        (["--timeout", "soon"], "not a duration"),
        (["--sampler", "bayes"], "unknown sampler 'bayes'"),
        (["--verify-backend", "sim"], "not a real engine"),
        (["--storage", "nosuchdb://x"], "cannot be opened"),
        (["--suite", "no-such-suite"], "no suite named 'no-such-suite'"),
        (["--pick", "99", "--trials", "3"], "--pick 99: this tune ranks at most 3 configuration"),
    ],
)
def test_bad_input_is_one_clear_error(capsys, tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    assert main(["tune", "--profile", "embedded", "--backend", "fake", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())  # rich wraps long lines
    assert err.startswith("error:")
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "profiles").exists()


@pytest.mark.parametrize(
    ("suite", "message"),
    [("mixed-load", "suite 'mixed-load' has no task with tests"), ("humaneval:2", "real engine")],
)
def test_a_pass_at_1_constraint_it_cannot_measure_is_refused(
    capsys, tmp_path, monkeypatch, suite, message
):
    monkeypatch.chdir(tmp_path)
    args = ["--backend", "fake", "--suite", suite, "--constraint", "pass_at_1>=0.05"]
    assert main(["tune", "--profile", "embedded", *args]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "error: --constraint 'pass_at_1>=0.05'" in err and message in err
    assert "Traceback" not in err and not (tmp_path / "profiles").exists()


def test_a_chat_suite_on_base_models_only_is_one_clear_error(capsys, tmp_path, monkeypatch):
    from orchbench.profiles import find_profile

    monkeypatch.chdir(tmp_path)
    base = tmp_path / "base.toml"
    base.write_text(find_profile("embedded").read_text().replace('"chat"', '"completion"'))
    args = ["tune", "--profile", str(base), "--backend", "fake", "--suite", "dev-pipeline"]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith("error:") and "cannot follow chat prompts" in err


def test_unknown_profile(capsys):
    assert main(["tune", "--profile", "no-such-profile"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "no profile named 'no-such-profile'" in err


def test_a_sim_tune_writes_a_loadable_profile_and_resumes(tmp_path, monkeypatch, capsys):
    import optuna

    from orchbench import load_profile
    from orchbench.tune import open_storage

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")  # one line per message, paths unbroken
    storage = str(tmp_path / "study.db")
    args = [
        "tune",
        "--profile",
        "embedded",
        "--backend",
        "sim",
        "--suite",
        "smoke",
        "--storage",
        storage,
        "--study",
        "cli",
        "--verify-repeat",
        "3",
    ]
    assert main([*args, "--trials", "4"]) == 0
    captured = capsys.readouterr()
    out = " ".join(captured.out.split())
    assert "wrote" in out and "embedded.tuned.toml" in out  # results on stdout
    assert "tuning embedded on sim" in captured.err  # progress on stderr
    tuned = load_profile("embedded.tuned")
    assert tuned.tuned["backend"] == "sim"
    assert tuned.tuned["suite"] == "smoke"
    assert tuned.tuned["study"] == "cli"
    before = (tmp_path / "profiles" / "embedded.tuned.toml").read_bytes()
    # a second tune refuses before searching, and says the exact command that replaces it
    assert main([*args, "--trials", "3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "already exists" in err
    assert "`orchbench tune --profile embedded --backend sim" in err
    assert "--trials 3 --force`" in err
    assert (tmp_path / "profiles" / "embedded.tuned.toml").read_bytes() == before
    study = optuna.load_study(study_name="cli", storage=open_storage(storage))
    assert len(study.trials) == 4  # no trial ran
    assert main([*args, "--trials", "3", "--force"]) == 0
    study = optuna.load_study(study_name="cli", storage=open_storage(storage))
    assert len(study.trials) == 7
    assert load_profile("embedded.tuned").tuned["trials"] == 7


def test_out_is_a_folder_as_for_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    args = ["tune", "--profile", "embedded", "--backend", "sim", "--suite", "smoke"]
    args += ["--trials", "2", "--verify-repeat", "0", "--storage", str(tmp_path / "s.db")]
    assert main([*args, "--out", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "embedded.tuned.toml").is_file()
    assert not (tmp_path / "profiles").exists()
    assert main([*args, "--out", str(tmp_path / "x.toml")]) == 2
    assert "--out is a folder" in " ".join(capsys.readouterr().err.split())


def test_search_on_the_simulator_then_check_on_another_engine(tmp_path, monkeypatch, capsys):
    from orchbench import load_profile

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "400")
    code = main(
        [
            "tune",
            "--profile",
            "embedded",
            "--backend",
            "sim",
            "--suite",
            "smoke",
            "--trials",
            "6",
            "--storage",
            str(tmp_path / "s.db"),
            "--verify-backend",
            "fake",
            "--verify-top",
            "2",
            "--verify-repeat",
            "1",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    table = load_profile("embedded.tuned").tuned
    assert table["backend"] == "sim"
    assert table["verify_backend"] == "fake"
    assert table["verify_repeat"] == 1
