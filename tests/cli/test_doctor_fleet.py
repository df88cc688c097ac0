"""`orchbench doctor` on a fleet checks every host (two stand-in Ollama servers, no model runs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from ollama_standin import FakeOllama, write_profile
from pytest_httpserver import HTTPServer

from orchbench.cli import main


@pytest.fixture
def two_servers() -> Iterator[tuple[HTTPServer, HTTPServer]]:
    servers = (
        HTTPServer(host="127.0.0.1", threaded=True),
        HTTPServer(host="127.0.0.1", threaded=True),
    )
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


def test_every_host_is_checked_and_a_missing_model_names_its_host(
    two_servers: tuple[HTTPServer, HTTPServer],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "240")
    box1 = FakeOllama(two_servers[0], ["llama2:7b-chat"])
    box2 = FakeOllama(two_servers[1], [])
    path = write_profile(tmp_path, box1.host, {"llama2:7b-chat": 3.8})
    hosts = "".join(
        f'[hosts.{name}]\nurl = "{fake.host}"\nmodels = ["llama2:7b-chat"]\n'
        for name, fake in (("box1", box1), ("box2", box2))
    )
    path.write_text(path.read_text() + hosts)
    assert main(["doctor", "--profile", str(path)]) == 1
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "model llama2:7b-chat on" in line]
    assert len(lines) == 2
    assert "box1" in lines[0] and "installed" in lines[0]
    assert "box2" in lines[1] and "ollama pull llama2:7b-chat" in lines[1]
