"""The provider catalog generator's rules, each on a small authored models.dev fixture."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest

from modelwire.catalog.io import dump_catalog
from modelwire.catalog.providers_gen import (
    MODELS_DEV_URL,
    LiveModelSource,
    ProviderCatalogOverrides,
    ProviderGeneration,
    build_provider_catalog,
    decode_models_dev,
    generate_providers,
    load_provider_overrides,
)
from modelwire.catalog.schema import (
    CatalogModel,
    CatalogProvider,
    ModelCost,
    ModelCostTier,
    ProviderCatalog,
)
from modelwire.errors import CatalogError
from modelwire.providers import WireApi

COMPAT = "@ai-sdk/openai-compatible"
MOONSHOT_URL = "https://api.moonshot.ai/v1/models"
ZAI_URL = "https://api.z.ai/api/paas/v4/models"
GROQ_URL = "https://api.groq.com/openai/v1/models"


def model(**fields: Any) -> dict[str, Any]:
    """A models.dev model that passes the filter unless told otherwise."""
    return {"tool_call": True, "modalities": {"input": ["text"], "output": ["text"]}, **fields}


def provider(
    name: str, *, npm: str = COMPAT, api: str | None = None, **fields: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": name, "npm": npm, "env": [f"{name.upper()}_KEY"]}
    if api is not None:
        body["api"] = api
    body["models"] = fields.pop("models", {"m1": model(name="M1")})
    return body | fields


def overrides(**fields: Any) -> ProviderCatalogOverrides:
    base: dict[str, Any] = {
        "supported_provider_npm_packages": [COMPAT, "@ai-sdk/anthropic", "@ai-sdk/groq"]
    }
    return msgspec.convert(base | fields, ProviderCatalogOverrides)


def build(
    source: dict[str, Any], ov: ProviderCatalogOverrides | None = None, **generation: Any
) -> ProviderCatalog:
    decoded = decode_models_dev(orjson.dumps(source), origin="fixture")
    return build_provider_catalog(decoded, ProviderGeneration(ov or overrides(), **generation))


def ids(catalog: ProviderCatalog) -> list[str]:
    return [p.id for p in catalog.providers]


def only(catalog: ProviderCatalog) -> CatalogProvider:
    assert len(catalog.providers) == 1
    return catalog.providers[0]


def live_file(tmp_path: Path, *model_ids: str) -> Path:
    path = tmp_path / "live.json"
    data = [{"id": i, "object": "model", "owned_by": "x"} for i in model_ids]
    path.write_bytes(orjson.dumps({"object": "list", "data": data}))
    return path


def test_providers_are_included_by_npm_package_or_explicit_id_and_excluded_by_id() -> None:
    source = {
        "compat": provider("Compat", api="https://c.example/v1"),
        "unsupported": provider("Unsupported", npm="@ai-sdk/google", api="https://u.example"),
        "forced": provider("Forced", npm="@ai-sdk/google", api="https://f.example/v1"),
        "banned": provider("Banned", api="https://b.example/v1"),
    }
    catalog = build(
        source, overrides(include_provider_ids=["forced"], exclude_provider_ids=["banned"])
    )
    assert sorted(ids(catalog)) == ["compat", "forced"]


def test_exclusion_wins_over_inclusion() -> None:
    source = {"both": provider("Both", api="https://b.example/v1")}
    ov = overrides(include_provider_ids=["both"], exclude_provider_ids=["both"])
    assert ids(build(source, ov)) == []


def test_base_url_comes_from_api_else_the_override_else_the_provider_is_dropped() -> None:
    source = {
        "anthropic": provider("Anthropic", npm="@ai-sdk/anthropic"),
        "direct": provider("Direct", api="https://direct.example/v1"),
        "nourl": provider("NoUrl"),
    }
    ov = overrides(
        api_base_url_overrides={
            "anthropic": "https://api.anthropic.com",
            "direct": "https://ignored.example",
        }
    )
    catalog = build(source, ov)
    assert {p.id: p.base_url for p in catalog.providers} == {
        "anthropic": "https://api.anthropic.com",
        "direct": "https://direct.example/v1",
    }


@pytest.mark.parametrize(
    "url",
    [
        "https://bedrock-runtime.${AWS_REGION}.amazonaws.com",
        "http://localhost:8080/v1",
        "http://LOCALHOST/v1",
        "http://127.0.0.1:1234/v1",
    ],
)
def test_placeholder_and_local_base_urls_are_excluded(url: str) -> None:
    assert ids(build({"p": provider("P", api=url)})) == []


def test_env_key_is_the_override_else_the_first_listed_variable() -> None:
    source = {
        "a": provider("A", api="https://a.example", env=["FIRST", "SECOND"]),
        "b": provider("B", api="https://b.example", env=["B_KEY"]),
        "c": provider("C", api="https://c.example", env=[]),
    }
    catalog = build(source, overrides(env_key_overrides={"b": "SHARED_KEY"}))
    assert {p.id: p.env_key for p in catalog.providers} == {
        "a": "FIRST",
        "b": "SHARED_KEY",
        "c": None,
    }


def test_wire_api_is_the_override_else_messages_for_anthropic_npm_else_chat() -> None:
    source = {
        "anth": provider("Anth", npm="@ai-sdk/anthropic", api="https://a.example"),
        "anth2": provider("Anth2", npm="@ai-sdk/anthropic", api="https://a2.example"),
        "plain": provider("Plain", api="https://p.example"),
    }
    catalog = build(source, overrides(wire_api_overrides={"anth2": "chat"}))
    assert {p.id: p.wire_api for p in catalog.providers} == {
        "anth": WireApi.MESSAGES,
        "anth2": WireApi.CHAT,
        "plain": WireApi.CHAT,
    }


def test_models_need_tool_calling_and_text_output() -> None:
    models = {
        "tools-text": model(),
        "no-tools": model(tool_call=False),
        "image-only": model(modalities={"input": ["text"], "output": ["image"]}),
        "text-and-audio": model(modalities={"input": ["text"], "output": ["text", "audio"]}),
        "no-output-list": {"tool_call": True},
        "empty-output-list": model(modalities={"input": ["text"], "output": []}),
    }
    catalog = build({"p": provider("P", api="https://p.example", models=models)})
    assert [m.id for m in only(catalog).models] == [
        "tools-text",
        "text-and-audio",
        "no-output-list",
        "empty-output-list",
    ]


def test_providers_left_without_models_are_dropped() -> None:
    source = {"p": provider("P", api="https://p.example", models={"x": model(tool_call=False)})}
    assert ids(build(source)) == []


def test_model_entry_fields() -> None:
    models = {
        "named": model(
            name="Named Model",
            family="fam",
            reasoning=True,
            modalities={"input": ["text", "image", "pdf", "video"], "output": ["text"]},
            limit={"context": 128000, "output": 4096},
        ),
        "bare": {"tool_call": True, "limit": {"context": "lots"}},
    }
    named, bare = only(build({"p": provider("P", api="https://p.example", models=models)})).models
    assert named == CatalogModel(
        id="named",
        display_name="Named Model",
        description="fam • Reasoning • Tool calling • Image input • PDF input • Video input",
        reasoning=True,
        input_modalities=["text", "image"],
        context_window=128000,
        priority=0,
        thinking_toggle=False,
    )
    assert bare == CatalogModel(
        id="bare",
        display_name="bare",
        description="Tool calling",
        reasoning=False,
        input_modalities=["text"],
        context_window=None,
        priority=1,
    )


def cost_of(cost: Any) -> ModelCost | None:
    """The ``cost`` the generator keeps for one model whose models.dev ``cost`` is ``cost``."""
    source = {"p": provider("P", api="https://p.example", models={"m": model(cost=cost)})}
    return only(build(source)).models[0].cost


def test_cost_keeps_models_dev_prices_and_its_200k_tier_as_given() -> None:
    cost = cost_of(
        {
            "input": 3,
            "output": 15,
            "cache_read": 0.3,
            "cache_write": 3.75,
            "reasoning": 1.25e-07,
            "input_audio": 9,
            "output_audio": 9,
            "context_over_200k": {"input": 6, "output": 22.5, "cache_read": 0.6},
            "tiers": [{"input": 1, "output": 1, "tier": {"type": "context", "size": 200000}}],
        }
    )
    assert cost == ModelCost(
        input=3.0,
        output=15.0,
        cache_read=0.3,
        cache_write=3.75,
        reasoning=1.25e-07,
        over_200k=ModelCostTier(input=6.0, output=22.5, cache_read=0.6),
    )


def test_without_context_over_200k_the_200k_context_tier_of_tiers_is_used() -> None:
    cost = cost_of(
        {
            "input": 2,
            "output": 8,
            "tiers": [
                {"input": 3, "output": 9, "tier": {"type": "context", "size": 128000}},
                {
                    "input": 4,
                    "output": 16,
                    "cache_write": 5,
                    "tier": {"type": "context", "size": 200000},
                },
            ],
        }
    )
    assert cost == ModelCost(
        input=2.0, output=8.0, over_200k=ModelCostTier(input=4.0, output=16.0, cache_write=5.0)
    )


@pytest.mark.parametrize(
    "tiers",
    [
        [{"input": 4, "output": 16, "tier": {"type": "context", "size": 272000}}],
        [{"input": 4, "output": 16, "tier": {"type": "time", "size": 200000}}],
        [{"input_audio": 4, "tier": {"type": "context", "size": 200000}}],
        [],
    ],
)
def test_tiers_other_than_a_priced_200k_context_tier_give_no_over_200k(
    tiers: list[dict[str, Any]],
) -> None:
    assert cost_of({"input": 2, "output": 8, "tiers": tiers}) == ModelCost(input=2.0, output=8.0)


@pytest.mark.parametrize("cost", [None, {}, {"input_audio": 1, "output_audio": 2}, {"tiers": []}])
def test_a_model_without_a_kept_price_has_no_cost(cost: Any) -> None:
    fields = {} if cost is None else {"cost": cost}
    source = {"p": provider("P", api="https://p.example", models={"m": model(**fields)})}
    assert only(build(source)).models[0].cost is None


def test_free_models_keep_their_zero_prices() -> None:
    assert cost_of({"input": 0, "output": 0}) == ModelCost(input=0.0, output=0.0)


def test_a_cost_of_the_wrong_type_fails_naming_its_path() -> None:
    source = {"p": provider("P", api="https://p.example", models={"m": model(cost={"input": "3"})})}
    with pytest.raises(
        CatalogError, match=r"got `str` - at `\$\[\.\.\.\]\.models\[\.\.\.\]\.cost\.input`"
    ):
        build(source)


def test_written_costs_read_back_to_the_same_numbers(tmp_path: Path) -> None:
    prices = [0.3, 1.25e-07, 3.75, 0.083333, 2e-05, 1e-7, 123456.789, 0.1 + 0.2]
    models = {f"m{i}": model(cost={"input": v, "output": v}) for i, v in enumerate(prices)}
    source = write_fixture(tmp_path, {"p": provider("P", api="https://p.example", models=models)})
    output = tmp_path / "catalog.json"
    generate_providers(source, generation=ProviderGeneration(overrides()), output=output)
    reread = msgspec.json.decode(output.read_bytes(), type=ProviderCatalog)
    kept = [m.cost for m in reread.providers[0].models]
    assert kept == [ModelCost(input=v, output=v) for v in prices]
    assert dump_catalog(reread) == output.read_bytes()
    assert b'"input": 0.3,' in output.read_bytes()


def test_a_metadata_override_keeps_the_models_cost() -> None:
    patches = {"p": {"m": {"thinking_toggle": True}}}
    models = {"m": model(cost={"input": 1, "context_over_200k": {"input": 2}})}
    source = {"p": provider("P", api="https://p.example", models=models)}
    patched = only(build(source, overrides(provider_model_metadata_overrides=patches))).models[0]
    assert patched.thinking_toggle
    assert patched.cost == ModelCost(input=1.0, over_200k=ModelCostTier(input=2.0))


def test_live_only_models_have_no_cost(tmp_path: Path) -> None:
    recorded = live_file(tmp_path, "kimi-a", "kimi-new")
    catalog = build(moonshot_source(), moonshot(), live_source_files={"moonshotai": recorded})
    assert only(catalog).models[-1].id == "kimi-new"
    assert only(catalog).models[-1].cost is None


def test_priority_is_the_position_in_the_source() -> None:
    models = {"z-first": model(), "dropped": model(tool_call=False), "a-last": model()}
    catalog = build({"p": provider("P", api="https://p.example", models=models)})
    assert [(m.id, m.priority) for m in only(catalog).models] == [("z-first", 0), ("a-last", 2)]


def test_output_is_sorted_by_priority_then_lower_cased_name() -> None:
    source = {
        "p1": provider("beta", api="https://1.example"),
        "p2": provider("Alpha", api="https://2.example"),
        "p3": provider("Zulu", api="https://3.example"),
        "p4": provider("gamma", api="https://4.example"),
    }
    catalog = build(source, overrides(sort_priorities={"p3": 1, "p4": 2}))
    assert [p.name for p in catalog.providers] == ["Zulu", "gamma", "Alpha", "beta"]
    assert [p.sort_priority for p in catalog.providers] == [1, 2, 100, 100]


def moonshot(**fields: Any) -> ProviderCatalogOverrides:
    source = {
        "url": MOONSHOT_URL,
        "auth": "bearer",
        "auth_env": ["MOONSHOT_API_KEY", "KIMI_API_KEY"],
    }
    return overrides(live_model_sources={"moonshotai": source | fields})


def moonshot_source() -> dict[str, Any]:
    models = {"kimi-a": model(name="Kimi A"), "kimi-b": model(), "kimi-old": model()}
    return {"moonshotai": provider("Moonshot", api="https://api.moonshot.ai/v1", models=models)}


def test_live_list_appends_new_ids_with_a_default_entry(tmp_path: Path) -> None:
    recorded = live_file(tmp_path, "kimi-a", "kimi-new")
    catalog = build(moonshot_source(), moonshot(), live_source_files={"moonshotai": recorded})
    models = only(catalog).models
    assert [(m.id, m.priority) for m in models] == [
        ("kimi-a", 0),
        ("kimi-b", 1),
        ("kimi-old", 2),
        ("kimi-new", 3),
    ]
    assert models[-1] == CatalogModel(
        id="kimi-new",
        display_name="kimi-new",
        description=None,
        reasoning=False,
        input_modalities=["text"],
        context_window=None,
        priority=3,
    )


def test_live_list_can_filter_existing_models_to_live_ids(tmp_path: Path) -> None:
    recorded = live_file(tmp_path, "kimi-b", "kimi-new")
    ov = moonshot(filter_existing_to_live_ids=True)
    catalog = build(moonshot_source(), ov, live_source_files={"moonshotai": recorded})
    assert [(m.id, m.priority) for m in only(catalog).models] == [("kimi-b", 0), ("kimi-new", 1)]


def test_live_list_can_leave_new_ids_out(tmp_path: Path) -> None:
    recorded = live_file(tmp_path, "kimi-a", "kimi-new")
    ov = moonshot(append_new_models=False)
    catalog = build(moonshot_source(), ov, live_source_files={"moonshotai": recorded})
    assert [m.id for m in only(catalog).models] == ["kimi-a", "kimi-b", "kimi-old"]


def test_live_list_without_auth_fails_naming_the_variables_and_url() -> None:
    with pytest.raises(CatalogError) as caught:
        build(moonshot_source(), moonshot(), env={"MOONSHOT_API_KEY": "  "})
    message = str(caught.value)
    assert "MOONSHOT_API_KEY or KIMI_API_KEY" in message
    assert MOONSHOT_URL in message
    assert "--live-source moonshotai=PATH" in message


def test_empty_live_list_fails(tmp_path: Path) -> None:
    recorded = live_file(tmp_path)
    with pytest.raises(CatalogError, match=r"model list for moonshotai .* is empty"):
        build(moonshot_source(), moonshot(), live_source_files={"moonshotai": recorded})


def test_malformed_live_list_fails_naming_the_file(tmp_path: Path) -> None:
    recorded = tmp_path / "live.json"
    recorded.write_text('{"object": "list"}')
    with pytest.raises(CatalogError, match=str(recorded)):
        build(moonshot_source(), moonshot(), live_source_files={"moonshotai": recorded})


def test_recorded_list_for_an_unconfigured_source_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no live model source is configured for groq"):
        build(moonshot_source(), moonshot(), live_source_files={"groq": live_file(tmp_path, "x")})


def test_live_source_is_not_consulted_for_providers_it_does_not_build() -> None:
    source = {"other": provider("Other", api="https://o.example")}
    assert ids(build(source, moonshot())) == ["other"]


def test_metadata_overrides_patch_models_after_the_live_merge(tmp_path: Path) -> None:
    recorded = live_file(tmp_path, "kimi-a", "kimi-new")
    patches = {"moonshotai": {"kimi-new": {"thinking_toggle": True, "reasoning": True}}}
    ov = msgspec.structs.replace(moonshot(), provider_model_metadata_overrides=patches)
    catalog = build(moonshot_source(), ov, live_source_files={"moonshotai": recorded})
    patched = only(catalog).models[-1]
    assert (patched.id, patched.thinking_toggle, patched.reasoning) == ("kimi-new", True, True)
    assert not only(catalog).models[0].thinking_toggle


def test_a_metadata_override_of_the_wrong_type_is_an_error() -> None:
    patches = {"p": {"m1": {"thinking_toggle": "yes"}}}
    source = {"p": provider("P", api="https://p.example")}
    with pytest.raises(CatalogError, match=r"provider_model_metadata_overrides\.p\.m1"):
        build(source, overrides(provider_model_metadata_overrides=patches))


def test_generated_from_lists_every_source_url() -> None:
    catalog = build({"p": provider("P", api="https://p.example")}, moonshot())
    assert catalog.generated_from == [MODELS_DEV_URL, MOONSHOT_URL]


def test_generated_from_keeps_the_overrides_order_whatever_lists_were_recorded(
    tmp_path: Path,
) -> None:
    sources = {
        "zai": {"url": ZAI_URL},
        "groq": {"url": GROQ_URL},
        "moonshotai": {"url": MOONSHOT_URL},
    }
    recorded = {"groq": live_file(tmp_path, "x")}
    catalog = build(
        {"p": provider("P", api="https://p.example")},
        overrides(live_model_sources=sources),
        live_source_files=recorded,
    )
    assert catalog.generated_from == [MODELS_DEV_URL, ZAI_URL, GROQ_URL, MOONSHOT_URL]


# The committed overrides' own Google entry and live sources, each on a small fixture: the
# rules proven here are the ones the bundled catalog is generated with.


def committed_overrides(repo: Path) -> ProviderCatalogOverrides:
    return load_provider_overrides(repo / "catalogs" / "provider_catalog_overrides.json")


def with_committed_live_source(
    repo: Path, provider_id: str, *, url: str | None = None
) -> ProviderCatalogOverrides:
    """Fixture overrides carrying only the committed live source for ``provider_id``,
    optionally pointed at a loopback URL."""
    live = committed_overrides(repo).live_model_sources[provider_id]
    if url is not None:
        live = msgspec.structs.replace(live, url=url)
    return overrides(live_model_sources={provider_id: msgspec.to_builtins(live)})


def zai_source() -> dict[str, Any]:
    models = {"glm-a": model(name="GLM A"), "glm-b": model(name="GLM B")}
    api = "https://api.z.ai/api/paas/v4"
    return {"zai": provider("Z.AI", api=api, env=["ZHIPU_API_KEY"], models=models)}


def groq_source() -> dict[str, Any]:
    models = {
        "llama-a": model(name="Llama A"),
        "whisper": model(tool_call=False),
        "retired": model(),
        "llama-b": model(name="Llama B"),
    }
    api = "https://api.groq.com/openai/v1"
    return {
        "groq": provider("Groq", npm="@ai-sdk/groq", api=api, env=["GROQ_API_KEY"], models=models)
    }


def source_for(provider_id: str) -> dict[str, Any]:
    return {"moonshotai": moonshot_source, "zai": zai_source, "groq": groq_source}[provider_id]()


def test_google_is_included_by_id_on_its_openai_compatible_endpoint(repo: Path) -> None:
    source = {
        "anthropic": provider("Anthropic", npm="@ai-sdk/anthropic"),
        "google": provider(
            "Google", npm="@ai-sdk/google", env=["GOOGLE_API_KEY", "GEMINI_API_KEY"]
        ),
        "openrouter": provider("OpenRouter", api="https://openrouter.ai/api/v1"),
        "vertex": provider("Vertex", npm="@ai-sdk/google", api="https://vertex.example"),
    }
    ov = msgspec.structs.replace(committed_overrides(repo), live_model_sources={})
    assert "@ai-sdk/google" not in ov.supported_provider_npm_packages
    catalog = build(source, ov)
    assert ids(catalog) == ["anthropic", "google", "openrouter"]
    google = catalog.providers[1]
    assert (google.base_url, google.env_key, google.wire_api, google.sort_priority) == (
        "https://generativelanguage.googleapis.com/v1beta/openai",
        "GEMINI_API_KEY",
        WireApi.CHAT,
        2,
    )


def test_moonshot_filters_to_live_ids_and_appends_live_only_ones(
    repo: Path, tmp_path: Path
) -> None:
    recorded = live_file(tmp_path, "kimi-b", "kimi-new")
    ov = with_committed_live_source(repo, "moonshotai")
    catalog = build(moonshot_source(), ov, live_source_files={"moonshotai": recorded})
    assert [(m.id, m.priority) for m in only(catalog).models] == [("kimi-b", 0), ("kimi-new", 1)]


def test_zai_appends_live_only_ids_after_the_known_models_and_keeps_unlisted_ones(
    repo: Path, tmp_path: Path
) -> None:
    recorded = live_file(tmp_path, "glm-b", "glm-new")
    ov = with_committed_live_source(repo, "zai")
    catalog = build(zai_source(), ov, live_source_files={"zai": recorded})
    zai = only(catalog)
    assert [(m.id, m.priority) for m in zai.models] == [
        ("glm-a", 0),
        ("glm-b", 1),
        ("glm-new", 2),
    ]
    assert zai.models[-1] == CatalogModel(
        id="glm-new",
        display_name="glm-new",
        description=None,
        reasoning=False,
        input_modalities=["text"],
        context_window=None,
        priority=2,
    )
    assert zai.env_key == "ZHIPU_API_KEY"


def test_groq_drops_unlisted_models_renumbers_and_appends_nothing(
    repo: Path, tmp_path: Path
) -> None:
    recorded = live_file(tmp_path, "llama-b", "whisper", "groq-only", "llama-a")
    ov = with_committed_live_source(repo, "groq")
    catalog = build(groq_source(), ov, live_source_files={"groq": recorded})
    assert [(m.id, m.priority) for m in only(catalog).models] == [("llama-a", 0), ("llama-b", 1)]


@pytest.mark.parametrize(
    ("provider_id", "url", "names", "blank"),
    [
        ("moonshotai", MOONSHOT_URL, "MOONSHOT_API_KEY or KIMI_API_KEY", "MOONSHOT_API_KEY"),
        ("zai", ZAI_URL, "ZAI_API_KEY or ZHIPU_API_KEY", "ZAI_API_KEY"),
        ("groq", GROQ_URL, "GROQ_API_KEY", "GROQ_API_KEY"),
    ],
)
def test_a_live_source_without_a_token_fails_naming_it_its_url_and_every_variable(
    repo: Path, provider_id: str, url: str, names: str, blank: str
) -> None:
    ov = with_committed_live_source(repo, provider_id)
    env = {blank: " \t", "UNRELATED_API_KEY": "sk-unrelated"}
    with pytest.raises(CatalogError) as caught:
        build(source_for(provider_id), ov, env=env)
    message = str(caught.value)
    assert f"the live model list for {provider_id} at {url} needs {names} set" in message
    assert f"--live-source {provider_id}=PATH" in message
    assert "sk-unrelated" not in message


@dataclass
class Loopback:
    """A ``GET /models`` endpoint on 127.0.0.1: what it answers, and the tokens it was sent."""

    url: str
    status: int = 200
    body: bytes = b""
    authorizations: list[str | None] = field(default_factory=list)


@pytest.fixture
def loopback() -> Iterator[Loopback]:
    endpoint = Loopback(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            endpoint.authorizations.append(self.headers.get("Authorization"))
            self.send_response(endpoint.status)
            self.send_header("Content-Length", str(len(endpoint.body)))
            self.end_headers()
            self.wfile.write(endpoint.body)

        def log_message(self, format: str, *args: object) -> None:
            return

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    endpoint.url = f"http://127.0.0.1:{httpd.server_address[1]}/models"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.parametrize(
    ("env", "sent"),
    [
        ({"ZHIPU_API_KEY": "zhipu-token"}, "Bearer zhipu-token"),
        ({"ZAI_API_KEY": "  ", "ZHIPU_API_KEY": " zhipu-token\n"}, "Bearer zhipu-token"),
        ({"ZAI_API_KEY": "zai-token", "ZHIPU_API_KEY": "zhipu-token"}, "Bearer zai-token"),
    ],
)
def test_zai_sends_zai_api_key_else_zhipu_api_key_as_the_bearer_token(
    repo: Path, loopback: Loopback, env: dict[str, str], sent: str
) -> None:
    loopback.body = orjson.dumps({"object": "list", "data": [{"id": "glm-new"}]})
    ov = with_committed_live_source(repo, "zai", url=loopback.url)
    catalog = build(zai_source(), ov, env=env)
    assert loopback.authorizations == [sent]
    assert [m.id for m in only(catalog).models] == ["glm-a", "glm-b", "glm-new"]


@pytest.mark.parametrize("provider_id", ["moonshotai", "zai", "groq"])
def test_a_live_list_answering_an_http_error_fails_naming_the_source(
    repo: Path, loopback: Loopback, provider_id: str
) -> None:
    loopback.status, loopback.body = 401, b'{"error": "invalid key sk-echoed"}'
    ov = with_committed_live_source(repo, provider_id, url=loopback.url)
    token_names = ov.live_model_sources[provider_id].auth_env
    with pytest.raises(CatalogError) as caught:
        build(source_for(provider_id), ov, env={token_names[-1]: "sk-secret-token"})
    message = str(caught.value)
    assert message.endswith(
        f"cannot fetch the live model list for {provider_id} from {loopback.url}: HTTP 401"
    )
    assert loopback.authorizations == ["Bearer sk-secret-token"]
    assert "sk-secret-token" not in message


@pytest.mark.parametrize("provider_id", ["moonshotai", "zai", "groq"])
def test_an_unreachable_live_list_fails_naming_the_source(repo: Path, provider_id: str) -> None:
    url = "http://127.0.0.1:9/models"
    ov = with_committed_live_source(repo, provider_id, url=url)
    env = dict.fromkeys(ov.live_model_sources[provider_id].auth_env, "sk-secret-token")
    with pytest.raises(CatalogError) as caught:
        build(source_for(provider_id), ov, env=env)
    assert re.match(
        re.escape(f"cannot fetch the live model list for {provider_id} from {url}: "),
        str(caught.value),
    )
    assert "sk-secret-token" not in str(caught.value)


def write_fixture(tmp_path: Path, source: dict[str, Any]) -> Path:
    path = tmp_path / "api.json"
    path.write_bytes(orjson.dumps(source))
    return path


def test_partial_refresh_regenerates_only_the_named_providers(tmp_path: Path) -> None:
    output = tmp_path / "catalog.json"
    first = {
        "a": provider("A", api="https://a.example"),
        "b": provider("B", api="https://b.example"),
    }
    generation = ProviderGeneration(overrides())
    generate_providers(write_fixture(tmp_path, first), generation=generation, output=output)
    before = msgspec.json.decode(output.read_bytes(), type=ProviderCatalog)
    second = {
        "a": provider("A", api="https://a2.example"),
        "b": provider("B", api="https://b2.example"),
    }
    generate_providers(
        write_fixture(tmp_path, second), generation=generation, output=output, only=["b"]
    )
    after = msgspec.json.decode(output.read_bytes(), type=ProviderCatalog)
    assert after.providers[0] == before.providers[0]
    assert after.providers[1].base_url == "https://b2.example"


def test_partial_refresh_of_a_provider_that_is_not_generated_fails(tmp_path: Path) -> None:
    output = tmp_path / "catalog.json"
    source = write_fixture(tmp_path, {"a": provider("A", api="https://a.example")})
    generation = ProviderGeneration(overrides())
    generate_providers(source, generation=generation, output=output)
    written = output.read_bytes()
    with pytest.raises(CatalogError, match=r"not generated .*: missing"):
        generate_providers(source, generation=generation, output=output, only=["missing"])
    assert output.read_bytes() == written


def test_partial_refresh_needs_an_existing_catalog(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, {"a": provider("A", api="https://a.example")})
    with pytest.raises(CatalogError, match="needs an existing catalog"):
        generate_providers(
            source,
            generation=ProviderGeneration(overrides()),
            output=tmp_path / "none.json",
            only=["a"],
        )


def test_generate_writes_the_canonical_bytes(tmp_path: Path) -> None:
    output = tmp_path / "out" / "catalog.json"
    source = write_fixture(tmp_path, {"a": provider("A", api="https://a.example")})
    catalog = generate_providers(source, generation=ProviderGeneration(overrides()), output=output)
    assert output.read_bytes() == dump_catalog(catalog)
    assert output.read_bytes().endswith(b"}\n")


def test_unreadable_or_malformed_source_names_it(tmp_path: Path) -> None:
    generation = ProviderGeneration(overrides())
    with pytest.raises(CatalogError, match=r"cannot read the models\.dev catalog at"):
        generate_providers(tmp_path / "nope.json", generation=generation, output=tmp_path / "o")
    bad = tmp_path / "bad.json"
    bad.write_text('{"p": {"name": 5}}')
    with pytest.raises(
        CatalogError, match=r"invalid: Expected `str`, got `int` - at `\$\[...\]\.name`"
    ):
        generate_providers(bad, generation=generation, output=tmp_path / "o")


def test_overrides_with_an_unknown_key_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"supported_provider_npm_packages": [], "sort_priority": {}}')
    with pytest.raises(CatalogError, match="unknown field `sort_priority`"):
        load_provider_overrides(path)


def test_live_source_defaults() -> None:
    source = LiveModelSource(url=MOONSHOT_URL)
    assert (source.auth, source.filter_existing_to_live_ids, source.append_new_models) == (
        None,
        False,
        True,
    )


def test_a_long_context_tier_keeps_its_real_threshold_from_the_matching_tier() -> None:
    # models.dev files GPT-5.4's 272k tier as context_over_200k; billing it from 200k would
    # overcharge every prompt between the two.
    tier = {"input": 5, "output": 22.5}
    cost = cost_of(
        {
            "input": 2.5,
            "output": 15,
            "context_over_200k": tier,
            "tiers": [{**tier, "tier": {"type": "context", "size": 272000}}],
        }
    )
    assert cost == ModelCost(
        input=2.5,
        output=15.0,
        over_200k=ModelCostTier(input=5.0, output=22.5, above_tokens=272000),
    )
