"""Reports: figures of a run, one self-contained HTML page, run-vs-run comparison, and
the figures of a tuning study.

>>> from orchbench.report import write_report, compare_runs       # doctest: +SKIP
>>> write_report("results/20261125-210000-embedded-code-completion")  # doctest: +SKIP
>>> compare_runs(["results/a", "results/b"], fail_on=["throughput<-5%"]).ok  # doctest: +SKIP
"""

from orchbench.report._compare import Comparison, MetricRow, RuleOutcome, compare_runs
from orchbench.report._figures import write_figures
from orchbench.report._html import write_report
from orchbench.report._study import study_figures

__all__ = [
    "Comparison",
    "MetricRow",
    "RuleOutcome",
    "compare_runs",
    "study_figures",
    "write_figures",
    "write_report",
]
