"""The console script's exit: llama-cpp-python's /dev/null files are closed, not leaked."""

import sys
import types

from orchbench.cli import close_library_devnull


def test_the_two_devnull_files_of_llama_cpp_are_closed_at_exit(monkeypatch, tmp_path):
    # a stand-in for llama_cpp/_utils.py, which opens these two at import and never closes them
    stand_in = types.ModuleType("llama_cpp._utils")
    stand_in.outnull_file = (tmp_path / "out").open("w")
    stand_in.errnull_file = (tmp_path / "err").open("w")
    monkeypatch.setitem(sys.modules, "llama_cpp._utils", stand_in)
    close_library_devnull()
    assert stand_in.outnull_file.closed and stand_in.errnull_file.closed


def test_without_llama_cpp_loaded_there_is_nothing_to_close(monkeypatch):
    monkeypatch.delitem(sys.modules, "llama_cpp._utils", raising=False)
    close_library_devnull()  # must not import llama_cpp or fail
    assert "llama_cpp._utils" not in sys.modules
