"""Generator sources over real HTTP on loopback: fetches, bearer auth, and failures named."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import msgspec
import orjson
import pytest

from modelwire.catalog.io import read_source
from modelwire.catalog.providers_gen import (
    ProviderCatalogOverrides,
    ProviderGeneration,
    generate_providers,
)
from modelwire.errors import CatalogError


@dataclass
class Routes:
    """What the loopback server answers, and what it was asked."""

    bodies: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    seen: list[tuple[str, str | None]] = field(default_factory=list)


@pytest.fixture
def server() -> Iterator[tuple[str, Routes]]:
    routes = Routes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes.seen.append((self.path, self.headers.get("Authorization")))
            status, body = routes.bodies.get(self.path, (404, b"not found"))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", routes
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


SOURCE = orjson.dumps(
    {
        "moon": {
            "name": "Moon",
            "npm": "@ai-sdk/openai-compatible",
            "api": "https://moon.example/v1",
            "env": ["MOON_KEY"],
            "models": {"m1": {"tool_call": True}},
        }
    }
)


def generation(base: str, env: dict[str, str]) -> ProviderGeneration:
    overrides = msgspec.convert(
        {
            "supported_provider_npm_packages": ["@ai-sdk/openai-compatible"],
            "live_model_sources": {
                "moon": {"url": f"{base}/v1/models", "auth": "bearer", "auth_env": ["MOON_KEY"]}
            },
        },
        ProviderCatalogOverrides,
    )
    return ProviderGeneration(overrides, env=env)


def test_read_source_fetches_a_url(server: tuple[str, Routes]) -> None:
    base, routes = server
    routes.bodies["/api.json"] = (200, b"{}")
    assert read_source(f"{base}/api.json", what="thing") == b"{}"


def test_http_failure_names_the_source_and_status(server: tuple[str, Routes]) -> None:
    base, routes = server
    routes.bodies["/api.json"] = (503, b"busy")
    with pytest.raises(
        CatalogError, match=re.escape(f"cannot fetch the thing from {base}/api.json: HTTP 503")
    ):
        read_source(f"{base}/api.json", what="thing")


def test_unreachable_url_is_a_catalog_error() -> None:
    with pytest.raises(
        CatalogError, match=re.escape("cannot fetch the thing from http://127.0.0.1:9/x")
    ):
        read_source("http://127.0.0.1:9/x", what="thing")


def test_live_list_is_fetched_with_the_bearer_token_and_merged(
    server: tuple[str, Routes], tmp_path: Path
) -> None:
    base, routes = server
    routes.bodies["/api.json"] = (200, SOURCE)
    routes.bodies["/v1/models"] = (200, b'{"object": "list", "data": [{"id": "m1"}, {"id": "m2"}]}')
    catalog = generate_providers(
        f"{base}/api.json",
        generation=generation(base, {"MOON_KEY": "sk-live-token"}),
        output=tmp_path / "out.json",
    )
    assert [m.id for m in catalog.providers[0].models] == ["m1", "m2"]
    assert ("/v1/models", "Bearer sk-live-token") in routes.seen
    assert catalog.generated_from[1] == f"{base}/v1/models"


def test_live_list_http_failure_fails_the_run_and_keeps_the_old_file(
    server: tuple[str, Routes], tmp_path: Path
) -> None:
    base, routes = server
    routes.bodies["/api.json"] = (200, SOURCE)
    routes.bodies["/v1/models"] = (401, b'{"error": "bad key"}')
    output = tmp_path / "out.json"
    output.write_bytes(b"previous")
    with pytest.raises(
        CatalogError, match=re.escape(f"live model list for moon from {base}/v1/models: HTTP 401")
    ):
        generate_providers(
            f"{base}/api.json", generation=generation(base, {"MOON_KEY": "k"}), output=output
        )
    assert output.read_bytes() == b"previous"


def test_the_token_never_appears_in_errors(server: tuple[str, Routes], tmp_path: Path) -> None:
    base, routes = server
    routes.bodies["/api.json"] = (200, SOURCE)
    routes.bodies["/v1/models"] = (500, b"boom")
    with pytest.raises(CatalogError) as caught:
        generate_providers(
            f"{base}/api.json",
            generation=generation(base, {"MOON_KEY": "sk-secret-token"}),
            output=tmp_path / "out.json",
        )
    assert "sk-secret-token" not in str(caught.value)
    assert "sk-secret-token" not in repr(caught.value.__cause__)
