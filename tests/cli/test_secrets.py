"""No secrets in results: credentials in a host URL never reach a file a run writes.

A stand-in Ollama server (pytest-httpserver; no model runs) answers the run's checks and
fails every generation with an HTTP 500, so the host, with its userinfo, is quoted in error
messages. The run's every file, and what it printed, must hold no credential.
"""

from __future__ import annotations

import pytest
from ollama_standin import FakeOllama, write_profile
from werkzeug import Request, Response

from orchbench.cli import main
from orchbench.errors import redact

SECRET = "s3cretpw"
SUITE = """name = "secrets"
description = "two coding tasks"
prompt_style = "chat"

[[tasks]]
name = "one"
type = "coding"
prompt = "Write add(a, b) in Python."

[[tasks]]
name = "two"
type = "coding"
prompt = "Write sub(a, b) in Python."
"""


def _fail(request: Request) -> Response:
    return Response('{"error": "the runner crashed"}', status=500)


@pytest.mark.parametrize("where", ["profile", "env", "flag"])
def test_credentials_in_the_host_are_in_no_file_a_run_writes(
    where: str, server, tmp_path, capsys, monkeypatch
) -> None:
    ollama = FakeOllama(server, ["m1:latest"])
    server.expect_request("/api/generate", method="POST").respond_with_json(
        {"model": "m1:latest", "response": "", "done": True, "load_duration": 1000}
    )  # warm-up loads; every task then fails
    server.expect_request("/api/chat", method="POST").respond_with_handler(_fail)
    host = ollama.host.replace("http://", f"http://alice:{SECRET}@")
    monkeypatch.delenv("OLLAMA_HOST", raising=False)
    if where == "env":
        monkeypatch.setenv("OLLAMA_HOST", host)
    profile = write_profile(tmp_path, host if where == "profile" else ollama.host, {"m1:latest": 1})
    with profile.open("a") as fh:
        fh.write("[settings]\nretry_attempts = 1\nretry_backoff_s = 0\n")  # fail fast
    suite = tmp_path / "secrets.toml"
    suite.write_text(SUITE)
    out = tmp_path / "results"
    flag = ["--host", host] if where == "flag" else []
    main(["run", "--profile", str(profile), "--suite", str(suite), "--backend", "ollama",
          "--repeat", "1", "--warmup", "0", "--out", str(out), "--report", *flag])  # fmt: skip
    printed = capsys.readouterr()
    written = [p for p in out.rglob("*") if p.is_file()]
    assert written, f"the run wrote nothing: {printed.err[-500:]}"
    leaks = [str(p) for p in written if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    assert SECRET not in printed.out and SECRET not in printed.err
    assert any(b"***@" in p.read_bytes() for p in written)  # the host is there, masked
    assert {"records.jsonl", "tasks.jsonl", "summary.json"} <= {p.name for p in written}


def test_redact_masks_userinfo_and_keys_and_leaves_the_rest() -> None:
    assert (
        redact("at http://u:p@h:1/x and https://tok@h2") == "at http://***@h:1/x and https://***@h2"
    )
    assert redact("Authorization: Bearer abc.def") == "Authorization: Bearer ***"
    assert redact('{"api_key": "k-123", "x": 1}') == '{"api_key": "***", "x": 1}'
    assert redact("key sk-abcdefghijklmnop end") == "key *** end"
    assert redact("plain http://h:1/api/chat 500") == "plain http://h:1/api/chat 500"
