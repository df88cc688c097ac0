"""Outputs are checked before any work: a file where a folder belongs, a parent that is a
file, an unwritable folder, a storage that is neither a known URL nor a plain path."""

import os

import pytest

from orchbench.cli import main
from orchbench.cli._outputs import check_out_dir, check_out_file, check_storage
from orchbench.errors import ConfigError


def test_out_folders_and_files(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    check_out_dir(tmp_path / "new" / "deeper")  # made later, when needed
    check_out_file(tmp_path / "new" / "x.toml", "--out")
    with pytest.raises(ConfigError, match="is a file; --out is a folder"):
        check_out_dir(afile)
    with pytest.raises(ConfigError, match="is a file, so no folder can be made"):
        check_out_dir(afile / "sub")
    with pytest.raises(ConfigError, match="is a folder; give the path of a file"):
        check_out_file(tmp_path, "--out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile"]  # nothing created


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_folder_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    with pytest.raises(ConfigError, match="is not writable"):
        check_out_dir(locked / "results")


@pytest.mark.parametrize("spec", ["::::", "foo://x", "postgresql:/x", "", "a\x01b"])
def test_a_bad_storage_is_refused(spec, tmp_path):
    with pytest.raises(ConfigError, match="--storage"):
        check_storage(spec)


@pytest.mark.parametrize(
    "spec", ["sqlite:///x.db", "postgresql+psycopg2://u@h/db", "mysql://h/db", "study.log"]
)
def test_good_storages_pass(spec, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    check_storage(spec)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["--storage", "::::"], ["--out", "{file}"]])
def test_tune_refuses_bad_outputs_before_the_search(tmp_path, monkeypatch, capsys, args):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    args = [a.replace("{file}", str(tmp_path / "file")) for a in args]
    code = main(["tune", "--profile", "embedded", "--backend", "sim", "--trials", "2", *args])
    err = capsys.readouterr().err
    assert code == 2 and err.count("error:") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
