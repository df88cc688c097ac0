"""Every run figure is drawn from the committed results folder, labelled with its source."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from orchbench.errors import ResultsError
from orchbench.report import write_figures
from orchbench.report._figures import latency_figure, modes_figure
from orchbench.report._run import load_run
from orchbench.report._timeline import timeline_figure, utilisation_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEMS = {
    "modes",
    "timeline-sequential",
    "timeline-parallel",
    "latency",
    "tokens",
    "utilisation",
}


def test_write_figures_writes_valid_png_and_svg_for_every_figure(run_small: Path):
    paths = write_figures(run_small)
    assert {p.stem for p in paths} == STEMS
    assert {p.suffix for p in paths} == {".png", ".svg"}
    assert len(paths) == 2 * len(STEMS)
    for path in paths:
        assert path.parent == run_small / "figures"
        data = path.read_bytes()
        assert len(data) > 1000, path
        if path.suffix == ".png":
            assert data.startswith(PNG_MAGIC), path
        else:
            assert ET.fromstring(data).tag.endswith("svg"), path
    assert not [p for p in (run_small / "figures").iterdir() if p.name.endswith(".tmp")]


def test_every_figure_names_the_backend_and_says_simulated(run_small: Path):
    run = load_run(run_small)
    figures = [
        modes_figure(run),
        timeline_figure(run, "parallel"),
        latency_figure(run),
        utilisation_figure(run),
    ]
    for fig in figures:
        assert fig is not None
        text = fig.get_suptitle()
        assert "backend: fake" in text
        assert "SIMULATED" in text


def test_a_measured_run_is_not_called_simulated(run_small: Path):
    summary = json.loads((run_small / "summary.json").read_text())
    summary.update(backend="embedded", measured=True)
    (run_small / "summary.json").write_text(json.dumps(summary))
    text = modes_figure(load_run(run_small)).get_suptitle()
    assert "backend: embedded" in text
    assert "SIMULATED" not in text


def test_timeline_has_one_lane_per_model_instance_and_marks_the_failure(run_small: Path):
    run = load_run(run_small)
    fig = timeline_figure(run, "parallel")
    ax = fig.axes[0]
    lanes = [t.get_text() for t in ax.get_yticklabels()]
    assert lanes == ["gemma3-270m #0", "gemma3-270m #1", "qwen2.5-0.5b #0", "qwen2.5-0.5b #1"]
    assert "1 failed" in fig.get_suptitle()
    assert "9 attempts" in fig.get_suptitle()
    hatched = [p for p in ax.patches if p.get_hatch()]
    assert len(hatched) == 1  # the one failed attempt
    assert len(ax.texts) + len(ax.patches) > 9
    arrows = [c for c in ax.get_children() if type(c).__name__ == "Annotation"]
    assert len(arrows) == 1  # the fallback from qwen to gemma


def test_timeline_of_the_sequential_mode_uses_its_first_repeat(run_small: Path):
    fig = timeline_figure(load_run(run_small), "sequential")
    assert "sequential, repeat 0" in fig.get_suptitle()


def test_timeline_without_instances_has_one_lane_per_model(run_small: Path):
    path = run_small / "records.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps({**r, "instance": None}) + "\n" for r in rows))
    ax = timeline_figure(load_run(run_small), "parallel").axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gemma3-270m", "qwen2.5-0.5b"]


def test_timeline_of_an_unknown_mode_is_none(run_small: Path):
    assert timeline_figure(load_run(run_small), "model:nope") is None


def test_utilisation_has_a_gpu_panel_only_with_gpu_samples(run_small: Path, run_small_b: Path):
    titles = [ax.get_title() for ax in utilisation_figure(load_run(run_small)).axes]
    assert not any("GPU" in t for t in titles)
    titles_b = [ax.get_title() for ax in utilisation_figure(load_run(run_small_b)).axes]
    assert any("GPU" in t for t in titles_b)


def test_in_flight_never_exceeds_the_instances(run_small: Path):
    ax = utilisation_figure(load_run(run_small)).axes[0]
    in_flight = [line for line in ax.get_lines() if line.get_label().startswith("in flight")]
    assert len(in_flight) == 2
    for line in in_flight:
        assert min(line.get_ydata()) >= 0 and max(line.get_ydata()) <= 2


def test_run_without_resource_samples_still_gets_a_utilisation_figure(run_small: Path):
    (run_small / "resources.jsonl").unlink()
    fig = utilisation_figure(load_run(run_small))
    assert len(fig.axes) == 1


def test_missing_folder_is_a_clear_error(tmp_path: Path):
    with pytest.raises(ResultsError, match="does not exist"):
        write_figures(tmp_path / "nope")


def test_folder_without_summary_names_the_file(run_small: Path):
    (run_small / "summary.json").unlink()
    with pytest.raises(ResultsError, match=r"summary\.json"):
        write_figures(run_small)


def test_corrupt_records_name_the_file_and_line(run_small: Path):
    with (run_small / "records.jsonl").open("a") as fh:
        fh.write("{not json\n")
    with pytest.raises(ResultsError, match=r"records\.jsonl.*line 37"):
        write_figures(run_small)


def test_records_missing_a_column_name_it(run_small: Path):
    path = run_small / "records.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    rows = [{k: v for k, v in r.items() if k != "started_at"} for r in rows]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ResultsError, match="started_at"):
        write_figures(run_small)


def test_a_long_queue_does_not_make_a_row_per_task(run_small: Path):
    path = run_small / "records.jsonl"
    first = json.loads(path.read_text().splitlines()[0])
    rows = [
        {**first, "task_id": i, "started_at": first["started_at"] + i, "queue_wait_s": float(i),
         "total_s": 1.0, "instance": 0, "mode": "parallel"}
        for i in range(100)
    ]  # fmt: skip
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    fig = timeline_figure(load_run(run_small), "parallel")
    assert "queue waits overlap" in fig.get_suptitle()
    low, high = fig.axes[0].get_ylim()
    assert low - high < 10  # one running request at a time: a single row
