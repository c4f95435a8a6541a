"""The embedded llama.cpp engine on the bundled SmolLM2, through the backend contract."""

from __future__ import annotations

import pytest
from backend_conformance import BackendConformance

from bedside.catalog import Catalog, Resolver
from bedside.config import load_settings
from bedside.runtime.llamacpp import LlamaCppBackend

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def backend(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("llamacpp")
    settings = load_settings(data_dir=tmp / "data", cache_dir=tmp / "cache", n_ctx=2048, threads=2)
    spec = Catalog.load().get("smollm2")
    path = Resolver(settings.cache_dir, settings.data_dir).resolve(spec, progress=False)
    b = LlamaCppBackend(spec, path, settings)
    b.warm_up()
    yield b
    b.close()


class TestLlamaCpp(BackendConformance):
    def test_context_length_is_capped_by_settings(self, backend):
        assert backend.context_length == 2048

    def test_http_listener_requires_the_key(self, backend):
        import httpx

        url = backend.http_base_url + "/chat/completions"
        body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
        assert httpx.post(url, json=body, timeout=30).status_code == 401
        ok = httpx.post(url, json=body, headers={"Authorization": f"Bearer {backend.http_api_key}"}, timeout=30)
        assert ok.status_code == 200
