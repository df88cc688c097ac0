"""Fixtures shared across the test packages."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pytest_httpserver import HTTPServer


@pytest.fixture(scope="module")
def _threaded_http_server() -> Iterator[HTTPServer]:
    # Threaded: the engines under test send concurrent requests to the stand-in servers.
    httpserver = HTTPServer(threaded=True)
    httpserver.start()
    yield httpserver
    httpserver.stop()


@pytest.fixture
def server(_threaded_http_server: HTTPServer) -> Iterator[HTTPServer]:
    """A local HTTP server that stands in for Ollama or an OpenAI-compatible server.

    One per test module; every test starts with no handlers.
    """
    _threaded_http_server.clear()
    yield _threaded_http_server
    _threaded_http_server.clear()
