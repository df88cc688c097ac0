"""The report's per-request table: every repeat, escaped, one script allowed by its hash."""

from __future__ import annotations

import re
from pathlib import Path

from orchbench.report import write_report
from orchbench.report._requests import COLUMNS, SCRIPT, request_rows, script_hash
from orchbench.report._run import load_run


def test_one_row_per_task_of_every_mode_and_repeat(run_small: Path):
    run = load_run(run_small)
    rows = request_rows(run)
    assert len(rows) == len(run.tasks) == 32
    column = {key: i for i, (key, _header) in enumerate(COLUMNS)}
    repeats = {(row[column["mode"]]["text"], row[column["repeat"]]["text"]) for row in rows}
    assert repeats == {
        ("sequential", "0"),
        ("sequential", "1"),
        ("parallel", "0"),
        ("parallel", "1"),
    }
    latency = [float(row[column["latency"]]["v"]) for row in rows]
    assert latency == list(run.tasks["response_time"])
    assert all(row[column["queue"]]["v"] for row in rows)  # summed from records.jsonl


def test_the_page_allows_only_its_own_script(run_small: Path, inject):
    inject(run_small)
    html = write_report(run_small).read_text(encoding="utf-8")
    assert html.count("<script>") == 1 and f"<script>{SCRIPT}</script>" in html
    policy = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert policy and f"script-src {script_hash()}" in policy.group(1)
    assert "'unsafe-inline'" not in policy.group(1).split("script-src", 1)[1]
    table = html.split('<table id="requests">', 1)[1].split("</table>", 1)[0]
    assert "&lt;script&gt;document.title=" in table and "<img" not in table
