"""The public surface of ``orchbench.report`` is exactly what ``__all__`` lists."""

import orchbench.report


def test_all_is_sorted_and_complete():
    # (pytest rewrites orchbench's modules, being its plugin, and adds "@py_..." names)
    public = {name for name in dir(orchbench.report) if not name.startswith(("_", "@"))}
    assert sorted(orchbench.report.__all__) == list(orchbench.report.__all__)
    assert public == set(orchbench.report.__all__)


def test_importing_the_package_loads_no_heavy_library():
    import subprocess
    import sys

    code = (
        "import sys, orchbench.report; "
        "print(sorted(m for m in ('matplotlib', 'pandas', 'optuna', 'jinja2') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
