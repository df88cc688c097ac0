"""The report's per-request table: every task of every mode and repeat, sortable and
filterable in the browser by a small inline script.

The script is a constant of this module, allowed by its SHA-256 hash in the page's
Content-Security-Policy, so no other script (say, one hidden in model output, which is
escaped anyway) may run. It only reorders rows and hides them; it never writes markup.
The page's address may carry the view: ``report.html#sort=-latency&filter=coding``.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from orchbench.report._run import RunData
from orchbench.report._tables import fmt

COLUMNS = (
    ("model", "Model"),
    ("task", "Task"),
    ("type", "Task type"),
    ("mode", "Mode"),
    ("point", "Point"),
    ("repeat", "Repeat"),
    ("queue", "Queue wait (s)"),
    ("ttft", "TTFT (s)"),
    ("tokens", "Completion tokens"),
    ("latency", "Latency (s)"),
    ("slo", "SLO met"),
    ("tests", "Tests passed"),
)
"""(key, header) of each column; the key names it in ``#sort=``."""

SCRIPT = """
(function () {
  var table = document.getElementById("requests");
  if (!table) { return; }
  var body = table.tBodies[0];
  var filter = document.getElementById("request-filter");
  var count = document.getElementById("request-count");
  var headers = Array.prototype.slice.call(table.tHead.rows[0].cells);
  var state = {col: -1, desc: false};
  function key(row, col) {
    var v = row.cells[col].getAttribute("data-v");
    if (v !== null && v !== "" && !isNaN(Number(v))) { return Number(v); }
    return row.cells[col].textContent.toLowerCase();
  }
  function compare(x, y) {
    if (typeof x !== typeof y) { return typeof x === "number" ? -1 : 1; }
    return x < y ? -1 : (x > y ? 1 : 0);
  }
  function sortBy(col, desc) {
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var c = compare(key(a, col), key(b, col));
      return desc ? -c : c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    state = {col: col, desc: desc};
    headers.forEach(function (h, i) {
      h.setAttribute("aria-sort", i === col ? (desc ? "descending" : "ascending") : "none");
    });
  }
  function apply(text) {
    var words = text.toLowerCase().split(/\\s+/).filter(Boolean);
    var shown = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var t = r.textContent.toLowerCase();
      var ok = words.every(function (w) { return t.indexOf(w) >= 0; });
      r.hidden = !ok;
      if (ok) { shown += 1; }
    });
    count.textContent = shown + " of " + body.rows.length + " requests shown";
  }
  headers.forEach(function (h, i) {
    h.addEventListener("click", function () {
      sortBy(i, state.col === i ? !state.desc : false);
    });
  });
  filter.addEventListener("input", function () { apply(filter.value); });
  var params = new URLSearchParams(location.hash.slice(1));
  if (params.get("filter")) { filter.value = params.get("filter"); }
  apply(filter.value);
  var sort = params.get("sort") || "";
  var at = headers.findIndex(function (h) {
    return h.getAttribute("data-key") === sort.replace(/^-/, "");
  });
  if (at >= 0) { sortBy(at, sort.charAt(0) === "-"); }
})();
"""


def script_hash() -> str:
    """The CSP source that allows :data:`SCRIPT` and nothing else: ``'sha256-…'``."""
    digest = hashlib.sha256(SCRIPT.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _queue_by_task(run: RunData) -> dict[tuple[Any, Any, Any], float]:
    """Seconds each task waited in orchbench's queue, summed over its attempts."""
    records = run.records
    if records.empty or "queue_wait_s" not in records:
        return {}
    keys = [c for c in ("mode", "repeat", "task_id") if c in records]
    if len(keys) < 3:
        return {}
    summed = records.groupby(keys, dropna=False)["queue_wait_s"].sum()
    return {tuple(k): float(v) for k, v in summed.items()}


def _cell(value: Any) -> dict[str, str]:
    """A cell: ``text`` shown, ``v`` the raw value sorted by (empty: none)."""
    missing = value is None or (isinstance(value, float) and value != value)
    raw = "" if missing or isinstance(value, bool) else str(value)
    return {"text": fmt(None if missing else value), "v": raw}


def request_rows(run: RunData) -> list[list[dict[str, str]]]:
    """One row per task result over every mode and repeat (``tasks.jsonl``), in the
    order of :data:`COLUMNS`."""
    tasks = run.tasks
    if tasks.empty:
        return []
    queue = _queue_by_task(run)
    rows = []
    for task in tasks.to_dict("records"):
        values = {
            "model": task.get("model_name"),
            "task": task.get("task_name"),
            "type": task.get("task_type"),
            "mode": task.get("mode"),
            "point": task.get("point"),
            "repeat": task.get("repeat"),
            "queue": queue.get((task.get("mode"), task.get("repeat"), task.get("task_id"))),
            "ttft": task.get("ttft_s"),
            "tokens": task.get("completion_tokens"),
            "latency": task.get("response_time"),
            "slo": task.get("slo_met"),
            "tests": task.get("tests_passed"),  # None: the task had no tests
        }
        rows.append([_cell(values[key]) for key, _header in COLUMNS])
    return rows
