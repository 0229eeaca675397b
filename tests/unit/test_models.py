"""The model picker: catalog matching, the endpoint + catalog merge, reasoning metadata, the
cache, and ``Client.list_models`` end to end over the loopback mock on both event loops."""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
import httpx
import msgspec
import pytest

import modelwire
from modelwire import Client, Config, ProviderInfo, ProviderRegistry, WireApi
from modelwire._model_match import MatchRule, match_catalog_provider
from modelwire.catalog.bundled import (
    BundledCompatibilityCatalog,
    bedrock_model_catalog,
    compatibility_catalog,
    provider_catalog,
)
from modelwire.catalog.schema import CompatibilityCatalog, ReasoningControl, WebSearch
from modelwire.errors import UnknownProviderError
from modelwire.mock import MockBehavior, MockProvider
from modelwire.models import (
    DEFAULT_TTL_S,
    UNRANKED_PRIORITY,
    ListSource,
    Model,
    ModelCache,
    ModelList,
    ModelSource,
    build_model,
    list_models,
    merge_endpoint_models,
    price_listing,
    seed_bedrock_models,
    seed_catalog_models,
    seed_openai_models,
)
from modelwire.pricing import Price, PriceBook
from modelwire.transport import Call, CallObserver, Transport
from modelwire.wire.listing import ListedModel

SECRET = "sk-picker-secret-7"
LOOPBACK = "http://127.0.0.1:9000"


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Attempts(CallObserver):
    def __init__(self) -> None:
        self.urls: list[str] = []

    def attempt(self, call: Call, number: int, request: httpx.Request) -> None:
        self.urls.append(str(request.url))


async def no_sleep(seconds: float) -> None:
    await anyio.lowlevel.checkpoint()


def make_client(
    *,
    env: dict[str, str] | None = None,
    clock: FakeClock | None = None,
    observer: CallObserver | None = None,
    registry: ProviderRegistry | None = None,
    **info: Any,
) -> Client:
    """A client whose provider ``loop`` is ``ProviderInfo(**info)`` (when given)."""
    env = env or {}
    if registry is None:
        registry = ProviderRegistry.from_config(Config(), env={}, catalog=None)
    if info:
        registry.register("loop", ProviderInfo(**info))
    transport = Transport(env=env, sleep=no_sleep, rand=lambda low, high: 0.0, observer=observer)
    client = Client(registry, env=env, transport=transport, telemetry=False)
    client.model_cache = ModelCache(clock=clock or FakeClock())
    return client


def gets(mock: MockProvider) -> list[dict[str, Any]]:
    return [r for r in mock.requests if r["method"] == "GET"]


# --- which catalog provider: the four rules, in order ---------------------------------------


@pytest.mark.parametrize(
    ("info", "expected", "rule"),
    [
        pytest.param(
            ProviderInfo(name="Anthropic", base_url=LOOPBACK, wire_api=WireApi.MESSAGES),
            "anthropic",
            MatchRule.ANTHROPIC,
            id="anthropic-proxy-on-loopback-by-name",
        ),
        pytest.param(
            ProviderInfo(name="Claude Gateway", base_url="https://api.anthropic.com/v1/"),
            "anthropic",
            MatchRule.ANTHROPIC,
            id="anthropic-by-host",
        ),
        pytest.param(
            ProviderInfo(name="anthropic", base_url="https://api.deepseek.com"),
            "anthropic",
            MatchRule.ANTHROPIC,
            id="anthropic-identity-before-base-url",
        ),
        pytest.param(
            ProviderInfo(name="My Gateway", base_url="HTTPS://API.DeepSeek.com/"),
            "deepseek",
            MatchRule.BASE_URL,
            id="base-url-normalized",
        ),
        pytest.param(
            ProviderInfo(
                name="OpenRouter", base_url="https://api.deepseek.com", env_key="ZHIPU_API_KEY"
            ),
            "deepseek",
            MatchRule.BASE_URL,
            id="base-url-before-name-and-env-key",
        ),
        pytest.param(
            ProviderInfo(name="openROUTER", base_url=LOOPBACK, env_key="DEEPSEEK_API_KEY"),
            "openrouter",
            MatchRule.NAME,
            id="name-case-insensitive-before-env-key",
        ),
        pytest.param(
            ProviderInfo(name="Corp Router", base_url=LOOPBACK, env_key="OPENROUTER_API_KEY"),
            "openrouter",
            MatchRule.ENV_KEY,
            id="openrouter-proxy-by-env-key",
        ),
    ],
)
def test_a_provider_matches_its_catalog_entry_by_the_first_rule_that_applies(
    info: ProviderInfo, expected: str, rule: MatchRule
) -> None:
    match = match_catalog_provider(info, provider_catalog())
    assert match is not None
    assert (match.provider.id, match.rule) == (expected, rule)


def test_a_shared_env_key_matches_the_first_provider_in_catalog_order() -> None:
    sharing = provider_catalog().by_env_key("ZHIPU_API_KEY")
    assert len(sharing) > 1
    info = ProviderInfo(name="GLM Proxy", base_url=LOOPBACK, env_key="ZHIPU_API_KEY")
    match = match_catalog_provider(info, provider_catalog())
    assert match is not None
    assert match.provider is sharing[0]


def test_a_provider_no_rule_recognises_has_no_catalog_match() -> None:
    info = ProviderInfo(name="Nowhere", base_url=LOOPBACK, env_key="NOWHERE_KEY")
    assert match_catalog_provider(info, provider_catalog()) is None


# --- the merge --------------------------------------------------------------------------------


def test_endpoint_ids_define_the_list_and_the_catalog_describes_the_ones_it_knows() -> None:
    deepseek = provider_catalog().get("deepseek")
    assert deepseek is not None
    listed = [ListedModel(id="deepseek-chat"), ListedModel(id="brand-new", display_name="Bran")]
    models, hidden = merge_endpoint_models(listed, deepseek, compatibility_catalog())
    assert [m.id for m in models] == ["deepseek-chat", "brand-new"]  # no catalog-only additions
    assert hidden == ()
    chat, new = models
    assert chat.display_name == "DeepSeek Chat"
    assert chat.context_window == 1_000_000
    assert chat.sources == (ModelSource.ENDPOINT, ModelSource.CATALOG, ModelSource.COMPATIBILITY)
    assert new.display_name == "Bran"
    assert new.sources == (ModelSource.ENDPOINT,)
    assert new.priority == UNRANKED_PRIORITY
    assert new.input_modalities == ("text",)
    assert new.reasoning_control is ReasoningControl.NONE
    assert new.default_reasoning_level is None


def test_ids_the_compatibility_catalog_hides_are_left_out_unless_the_catalog_lists_them() -> None:
    compat = compatibility_catalog()
    for hidden_id in ("text-embedding-3-small", "deepseek-reasoner"):
        entry = compat.get(hidden_id)
        assert entry is not None
        assert entry.visibility == "hide"
    deepseek = provider_catalog().get("deepseek")
    listed = [ListedModel(id="text-embedding-3-small"), ListedModel(id="deepseek-reasoner")]
    models, hidden = merge_endpoint_models(listed, deepseek, compat)
    assert [m.id for m in models] == ["deepseek-reasoner"]
    assert hidden == ("text-embedding-3-small",)


def test_models_sort_by_priority_then_display_name_case_insensitively() -> None:
    deepseek = provider_catalog().get("deepseek")
    listed = [
        ListedModel(id="z-model", display_name="zeta"),
        ListedModel(id="a-model", display_name="Alpha"),
        ListedModel(id="deepseek-reasoner"),
        ListedModel(id="b-model", display_name="beta"),
        ListedModel(id="deepseek-chat"),
    ]
    models, _ = merge_endpoint_models(listed, deepseek, compatibility_catalog())
    assert [m.id for m in models] == [
        "deepseek-chat",
        "deepseek-reasoner",
        "a-model",
        "b-model",
        "z-model",
    ]


def test_a_duplicated_endpoint_id_is_listed_once() -> None:
    listed = [ListedModel(id="dup"), ListedModel(id="dup", display_name="Second")]
    models, _ = merge_endpoint_models(listed, None, compatibility_catalog())
    assert [(m.id, m.display_name) for m in models] == [("dup", "dup")]


def test_thinking_toggle_models_get_the_toggle_control_and_a_medium_default() -> None:
    zai = provider_catalog().get("zai")
    assert zai is not None
    models = {m.id: m for m in seed_catalog_models(zai, compatibility_catalog())}
    for model_id in ("glm-4.5", "glm-4.6"):
        model = models[model_id]
        assert model.reasoning_control is ReasoningControl.THINKING_TOGGLE
        assert model.supports_thinking_toggle
        assert model.default_reasoning_level == "medium"
        assert model.supported_reasoning_levels == ()
    assert not models["glm-4.5-air"].supports_thinking_toggle


def test_a_compatibility_effort_control_keeps_its_levels_beside_a_thinking_toggle() -> None:
    entry = compatibility_catalog().get("moonshotai.kimi-k2.5")
    assert entry is not None
    model = build_model("moonshotai.kimi-k2.5", compat=entry)
    assert model.reasoning_control is ReasoningControl.EFFORT
    assert model.supported_reasoning_levels == ("none", "low", "medium", "high")
    assert model.supports_thinking_toggle
    assert model.default_reasoning_level == "medium"


def test_reasoning_levels_are_never_invented_from_a_reasoning_flag() -> None:
    compat = compatibility_catalog()
    unknown_reasoners = 0
    for provider in provider_catalog():
        for model in seed_catalog_models(provider, compat):
            entry = compat.get(model.id)
            expected = tuple(entry.supported_reasoning_levels) if entry else ()
            assert model.supported_reasoning_levels == expected, (provider.id, model.id)
            if entry is None and model.default_reasoning_level == "medium":
                unknown_reasoners += 1
    assert unknown_reasoners > 100  # the rule was exercised: reasoning models with no levels


def test_a_reasoning_model_the_compatibility_catalog_lacks_has_effort_but_no_levels() -> None:
    zai = provider_catalog().get("zai")
    assert zai is not None
    air = next(m for m in zai.models if m.id == "glm-4.5-air")
    assert air.reasoning
    assert compatibility_catalog().get("glm-4.5-air") is None
    model = build_model("glm-4.5-air", catalog=air)
    assert model.reasoning_control is ReasoningControl.EFFORT
    assert model.supported_reasoning_levels == ()
    assert model.default_reasoning_level == "medium"
    assert model.sources == (ModelSource.CATALOG,)


def test_levels_come_from_a_compatibility_entry_matched_by_alias() -> None:
    compat = compatibility_catalog()
    entry = compat.get("anthropic.claude-haiku-4-5")
    assert entry is not None
    assert entry.id == "bedrock_mantle/anthropic.claude-haiku-4-5"
    models, _ = merge_endpoint_models(
        [ListedModel(id="anthropic.claude-haiku-4-5")], None, compatibility_catalog()
    )
    assert models[0].supported_reasoning_levels == ("low", "medium", "high")
    assert models[0].sources == (ModelSource.ENDPOINT, ModelSource.COMPATIBILITY)


@pytest.mark.parametrize("provider_id", ["amazon-bedrock", "amazon-bedrock-runtime"])
def test_each_bedrock_built_in_is_seeded_from_its_own_built_in_list(provider_id: str) -> None:
    entries = bedrock_model_catalog().models(provider_id)
    assert entries
    models = seed_bedrock_models(compatibility_catalog(), provider_id)
    assert [(m.id, m.display_name, m.priority) for m in models] == [
        (e.id, e.display_name, e.priority) for e in entries
    ]
    assert {m.sources for m in models} == {(ModelSource.BUILT_IN, ModelSource.COMPATIBILITY)}


def test_seeding_bedrock_without_a_provider_id_gives_mantles_list() -> None:
    compat = compatibility_catalog()
    assert seed_bedrock_models(compat) == seed_bedrock_models(compat, "amazon-bedrock")


def test_a_bedrock_entry_is_described_by_its_base_models_compatibility_entry() -> None:
    compat = compatibility_catalog()
    models = {m.id: m for m in seed_bedrock_models(compat)}
    for model_id, base_id in (
        ("openai.gpt-5.6-terra", "gpt-5.6-terra"),
        ("openai.gpt-5.4", "gpt-5.4"),
    ):
        base = compat.get(base_id)
        assert base is not None
        model = models[model_id]
        assert model.description == base.description
        assert model.reasoning_control is base.reasoning_control
        assert model.input_modalities == tuple(base.input_modalities)
        assert model.default_reasoning_level == "medium"
        assert model.context_window == 272_000 != base.context_window  # Bedrock's own window
    terra = compat.get("gpt-5.6-terra")
    assert terra is not None
    assert models["openai.gpt-5.6-terra"].supported_reasoning_levels == (
        *terra.supported_reasoning_levels,
        "max",
    )


def test_the_bedrock_5_6_levels_are_gpt_5_5s_plus_max_as_the_reference_builds_them() -> None:
    """The reference runtime builds Bedrock's 5.6 entries on gpt-5.5's levels (leaving out any
    5.6-only level Bedrock does not serve); ours read each model's own entry. This fails when
    the compatibility catalog's 5.6 levels drift from 5.5's, so the list can be reconsidered."""
    gpt_5_5 = compatibility_catalog().get("gpt-5.5")
    assert gpt_5_5 is not None
    for provider_id in ("amazon-bedrock", "amazon-bedrock-runtime"):
        for model in seed_bedrock_models(compatibility_catalog(), provider_id):
            if "gpt-5.6-" in model.id:
                assert model.supported_reasoning_levels == (
                    *gpt_5_5.supported_reasoning_levels,
                    "max",
                ), model.id


def test_a_bedrock_entry_whose_base_model_is_unknown_works_from_the_lists_own_data() -> None:
    nothing = BundledCompatibilityCatalog(CompatibilityCatalog(generated_from="", entries=[]))
    models = seed_bedrock_models(nothing, "amazon-bedrock")
    sol = models[0]
    assert (sol.id, sol.display_name, sol.priority) == ("openai.gpt-5.6-sol", "GPT-5.6 Sol", 0)
    assert sol.context_window == 272_000
    assert sol.web_search is WebSearch.TEXT
    assert sol.sources == (ModelSource.BUILT_IN,)
    assert sol.description is None
    # No base levels to extend: no lone "max" under no reasoning control.
    assert sol.reasoning_control is ReasoningControl.NONE
    assert sol.supported_reasoning_levels == ()
    assert sol.input_modalities == ("text",)


def test_only_the_bedrock_built_ins_have_a_built_in_list() -> None:
    with pytest.raises(ValueError, match="'openai' has no built-in model list"):
        seed_bedrock_models(compatibility_catalog(), "openai")


def test_web_search_follows_the_compatibility_catalogs_search_flag_and_image_input() -> None:
    compat = compatibility_catalog()
    cases = {
        "gpt-5.5": WebSearch.TEXT_AND_IMAGE,  # searches, takes images
        "gemini-2.5-pro-preview-tts": WebSearch.TEXT,  # searches, text in only
        "gpt-5.4": None,  # no search tool
    }
    for model_id, expected in cases.items():
        entry = compat.get(model_id)
        assert entry is not None
        assert build_model(model_id, compat=entry).web_search is expected, model_id
    assert build_model("unknown-model").web_search is None


def test_a_provider_catalog_without_image_input_narrows_search_to_text() -> None:
    zai = provider_catalog().get("zai")
    assert zai is not None
    text_only = next(m for m in zai.models if m.input_modalities == ["text"])
    entry = compatibility_catalog().get("gpt-5.5")
    assert entry is not None
    model = build_model("proxy-model", catalog=text_only, compat=entry)
    assert model.web_search is WebSearch.TEXT


def test_openai_is_seeded_from_its_unprefixed_families_in_the_compatibility_catalog() -> None:
    models = {m.id: m for m in seed_openai_models(compatibility_catalog())}
    assert {"gpt-5", "gpt-4.1-mini", "o3", "computer-use-preview"} <= set(models)
    assert models["gpt-5"].supported_reasoning_levels == ("minimal", "low", "medium", "high")
    assert models["gpt-5"].sources == (ModelSource.COMPATIBILITY,)
    assert not any("/" in model_id or "." in model_id.split("-")[0] for model_id in models)
    assert not any(model_id.startswith(("claude", "ft:", "ai21")) for model_id in models)


# --- the cache --------------------------------------------------------------------------------


async def test_a_cached_answer_is_fresh_for_the_ttl_and_kept_after_it(anyio_backend: str) -> None:
    clock = FakeClock()
    cache = ModelCache(clock=clock)
    entry = await cache.store("p", "https://p.example/v1", [ListedModel(id="m")])
    assert cache.is_fresh(entry)
    clock.now += DEFAULT_TTL_S - 1
    assert cache.is_fresh(entry)
    clock.now += 1
    assert not cache.is_fresh(entry)
    assert await cache.lookup("p", "https://p.example/v1") == entry
    assert await cache.lookup("p", "https://elsewhere.example/v1") is None


async def test_a_file_backed_cache_is_shared_across_instances_and_providers(
    tmp_path: Path, anyio_backend: str
) -> None:
    path = tmp_path / "cache" / "models.json"
    first, second = ModelCache(path=path), ModelCache(path=path)
    await first.store("a", "https://a.example", [ListedModel(id="a-1", display_name="A one")])
    await second.store("b", "https://b.example", [ListedModel(id="b-1")])
    third = ModelCache(path=path)
    a = await third.lookup("a", "https://a.example")
    b = await third.lookup("b", "https://b.example")
    assert a is not None
    assert a.models == (ListedModel(id="a-1", display_name="A one"),)
    assert b is not None
    assert [m.id for m in b.models] == ["b-1"]


async def test_a_corrupt_cache_file_counts_as_empty(tmp_path: Path, anyio_backend: str) -> None:
    path = tmp_path / "models.json"
    path.write_bytes(b"{not json")
    cache = ModelCache(path=path)
    assert await cache.lookup("a", "https://a.example") is None
    await cache.store("a", "https://a.example", [ListedModel(id="a-1")])
    assert await ModelCache(path=path).lookup("a", "https://a.example") is not None


# --- Client.list_models over loopback --------------------------------------------------------


MERGE_CASES = [
    pytest.param(
        WireApi.RESPONSES,
        {"name": "DeepSeek", "env_key": "LOOP_KEY"},
        ("deepseek-chat", "deepseek-next"),
        ("deepseek-chat", "DeepSeek Chat"),
        ("deepseek", MatchRule.NAME),
        id="responses",
    ),
    pytest.param(
        WireApi.CHAT,
        {"name": "Corp Router", "env_key": "OPENROUTER_API_KEY"},
        ("openai/gpt-5", "corp/internal-model"),
        ("openai/gpt-5", "GPT-5"),
        ("openrouter", MatchRule.ENV_KEY),
        id="chat",
    ),
    pytest.param(
        WireApi.MESSAGES,
        {"name": "Anthropic", "env_key": "ANTHROPIC_API_KEY"},
        ("claude-sonnet-4-5-20250929", "claude-next"),
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
        ("anthropic", MatchRule.ANTHROPIC),
        id="messages",
    ),
]


@pytest.mark.parametrize(("wire_api", "info", "ids", "known", "match"), MERGE_CASES)
async def test_the_endpoint_list_is_merged_with_the_catalog_in_each_wire_api(
    wire_api: WireApi,
    info: dict[str, str],
    ids: tuple[str, str],
    known: tuple[str, str],
    match: tuple[str, MatchRule],
    anyio_backend: str,
) -> None:
    anthropic = wire_api is WireApi.MESSAGES
    demand = {"require_api_key": SECRET} if anthropic else {"require_bearer": SECRET}
    async with MockProvider(models=ids, **demand) as mock:
        base = mock.base_url if anthropic else mock.url("/v1")
        client = make_client(
            env={info["env_key"]: SECRET}, base_url=base, wire_api=wire_api, **info
        )
        async with client:
            listing = await client.list_models("loop")
    assert listing.source is ListSource.ENDPOINT
    assert (listing.catalog_provider, listing.matched_by) == match
    assert listing.warning is None
    assert not listing.catalog_only
    assert {m.id for m in listing.models} == set(ids)
    known_id, known_name = known
    described = listing.get(known_id)
    assert described is not None
    assert described.display_name == known_name
    assert ModelSource.CATALOG in described.sources
    unknown = next(m for m in listing.models if m.id != known_id)
    assert unknown.sources == (ModelSource.ENDPOINT,)
    assert listing.models[-1] is unknown  # unranked models come after the catalog's
    (sent,) = gets(mock)
    if anthropic:
        assert sent["headers"]["x-api-key"] == "****"
        assert unknown.display_name == "Claude Next"  # the endpoint's own display name
    else:
        assert sent["headers"]["authorization"] == "Bearer ****"


async def test_an_anthropic_proxy_without_a_key_is_seeded_with_anthropics_models(
    anyio_backend: str,
) -> None:
    async with MockProvider() as mock:
        client = make_client(
            name="Anthropic",
            base_url=mock.base_url,
            wire_api=WireApi.MESSAGES,
            env_key="ANTHROPIC_API_KEY",
        )
        async with client:
            listing = await client.list_models("loop")
        assert mock.requests == []
    anthropic = provider_catalog().get("anthropic")
    assert anthropic is not None
    assert listing.source is ListSource.CATALOG
    assert listing.catalog_only
    assert (listing.catalog_provider, listing.matched_by) == ("anthropic", MatchRule.ANTHROPIC)
    assert [m.id for m in listing.models] == [m.id for m in anthropic.models]
    assert listing.warning is not None
    assert "ANTHROPIC_API_KEY" in listing.warning
    sonnet = listing.get("claude-sonnet-4-5-20250929")
    assert sonnet is not None
    assert sonnet.sources == (ModelSource.CATALOG, ModelSource.COMPATIBILITY)
    assert sonnet.supported_reasoning_levels == ("low", "medium", "high")


async def anthropic_seed(prices: PriceBook | None) -> ModelList:
    """An Anthropic proxy with no key (so no call): Anthropic's catalog models for "loop"."""
    client = make_client(
        name="Anthropic", base_url=LOOPBACK, wire_api=WireApi.MESSAGES, env_key="ANTHROPIC_API_KEY"
    )
    async with client:
        return await list_models(client, "loop", cache=client.model_cache, prices=prices)


async def test_a_catalog_seeded_list_carries_the_catalog_providers_prices(
    anyio_backend: str,
) -> None:
    listing = await anthropic_seed(PriceBook.bundled())
    assert listing.catalog_provider == "anthropic"
    anthropic = provider_catalog().get("anthropic")
    assert anthropic is not None
    costs = {m.id: m.cost for m in anthropic.models}
    priced = 0
    for model in listing.models:
        cost = costs[model.id]
        if cost is not None:  # "loop" is no catalog id: only catalog_id finds these
            assert model.price == Price.from_model_cost(cost, model=model.id)
            priced += 1
    assert priced > 0
    sonnet = listing.get("claude-sonnet-4-5-20250929")
    assert sonnet is not None
    assert sonnet.price is not None
    assert (sonnet.price.source, sonnet.price.input, sonnet.price.output) == (
        "provider_catalog",
        Decimal("3"),
        Decimal("15"),
    )


async def test_the_users_price_for_the_listings_provider_id_wins_over_the_catalogs(
    anyio_backend: str,
) -> None:
    mine = Price(model="claude-sonnet-4-5-20250929", source="config", input=Decimal("0.075"))
    listing = await anthropic_seed(PriceBook.bundled({"loop": {mine.model: mine}}))
    sonnet = listing.get(mine.model)
    assert sonnet is not None
    assert sonnet.price is mine


async def test_without_a_price_book_every_price_is_unknown(anyio_backend: str) -> None:
    listing = await anthropic_seed(None)
    assert listing.models
    assert all(model.price is None for model in listing.models)


def test_a_model_nothing_prices_keeps_an_unknown_price_not_a_zero_one() -> None:
    listing = ModelList(
        provider_id="loop",
        models=(build_model("corp/internal-model"),),
        source=ListSource.ENDPOINT,
    )
    (model,) = price_listing(listing, PriceBook.bundled()).models
    assert model.price is None


async def test_an_openrouter_proxy_whose_endpoint_fails_is_seeded_with_openrouters_models(
    anyio_backend: str,
) -> None:
    async with MockProvider(behavior=MockBehavior(status=503)) as mock:
        client = make_client(
            env={"OPENROUTER_API_KEY": SECRET},
            name="Corp Router",
            base_url=mock.url("/v1"),
            env_key="OPENROUTER_API_KEY",
            wire_api=WireApi.CHAT,
            request_max_retries=0,
        )
        async with client:
            listing = await client.list_models("loop")
        assert len(gets(mock)) == 1
    assert listing.source is ListSource.CATALOG
    assert (listing.catalog_provider, listing.matched_by) == ("openrouter", MatchRule.ENV_KEY)
    assert listing.get("openai/gpt-5") is not None
    assert listing.warning is not None
    assert "503" in listing.warning
    assert SECRET not in listing.warning


async def test_an_endpoint_that_misses_the_budget_falls_back_to_the_catalog(
    anyio_backend: str,
) -> None:
    async with MockProvider(models=("deepseek-chat",)) as mock:
        mock.enqueue(MockBehavior(ttft_ms=600))
        client = make_client(
            env={"LOOP_KEY": SECRET},
            name="DeepSeek",
            base_url=mock.url("/v1"),
            env_key="LOOP_KEY",
            wire_api=WireApi.CHAT,
        )
        started = time.perf_counter()
        async with client:
            listing = await client.list_models("loop", timeout_s=0.1)
        elapsed = time.perf_counter() - started
    assert elapsed < 0.5
    assert listing.source is ListSource.CATALOG
    assert listing.catalog_provider == "deepseek"
    assert listing.warning is not None
    assert "no answer within 0.1 s" in listing.warning
    assert [m.id for m in listing.models][:2] == ["deepseek-chat", "deepseek-reasoner"]


async def test_anthropic_pages_are_followed_by_has_more_and_last_id(anyio_backend: str) -> None:
    ids = ("claude-sonnet-4-5-20250929", *(f"claude-filler-{n:04d}" for n in range(1200)))
    async with MockProvider(models=ids, require_api_key=SECRET) as mock:
        client = make_client(
            env={"ANTHROPIC_API_KEY": SECRET},
            name="Anthropic",
            base_url=mock.base_url,
            env_key="ANTHROPIC_API_KEY",
            wire_api=WireApi.MESSAGES,
        )
        async with client:
            listing = await client.list_models("loop")
        pages = gets(mock)
    assert len(pages) == 2
    assert "after_id=" not in pages[0]["query"]
    assert "after_id=" in pages[1]["query"]
    assert len(listing.models) == len(ids)
    assert listing.models[0].id == "claude-sonnet-4-5-20250929"
    assert listing.models[0].display_name == "Claude Sonnet 4.5"


async def test_a_fresh_answer_is_served_from_the_cache_until_the_ttl_or_a_refresh(
    anyio_backend: str,
) -> None:
    clock = FakeClock()
    async with MockProvider(models=("deepseek-chat",)) as mock:
        client = make_client(name="DeepSeek", base_url=mock.url("/v1"), clock=clock)
        async with client:
            first = await client.list_models("loop")
            clock.now += DEFAULT_TTL_S - 1
            second = await client.list_models("loop")
            assert len(gets(mock)) == 1
            refreshed = await client.list_models("loop", refresh=True)
            assert len(gets(mock)) == 2
            clock.now += DEFAULT_TTL_S
            expired = await client.list_models("loop")
            assert len(gets(mock)) == 3
    assert (first.cached, second.cached, refreshed.cached, expired.cached) == (
        False,
        True,
        False,
        False,
    )
    assert second.models == first.models
    assert second.fetched_at == first.fetched_at
    assert refreshed.fetched_at == clock.now - DEFAULT_TTL_S


async def test_a_failed_refresh_keeps_the_last_good_list_and_says_so(anyio_backend: str) -> None:
    clock = FakeClock()
    async with MockProvider(models=("deepseek-chat", "deepseek-next")) as mock:
        client = make_client(
            name="DeepSeek", base_url=mock.url("/v1"), clock=clock, request_max_retries=0
        )
        async with client:
            good = await client.list_models("loop")
            clock.now += 2 * 3600
            mock.enqueue(MockBehavior(status=500))
            kept = await client.list_models("loop", refresh=True)
    assert kept.stale
    assert not kept.cached
    assert kept.source is ListSource.ENDPOINT
    assert kept.models == good.models
    assert kept.fetched_at == good.fetched_at
    assert kept.warning is not None
    assert "last good list, from 2 hours ago" in kept.warning
    assert "500" in kept.warning


async def test_a_provider_nothing_can_list_gives_an_empty_list_with_the_reason(
    anyio_backend: str,
) -> None:
    client = make_client(name="Nowhere", base_url=LOOPBACK, env_key="NOWHERE_KEY")
    async with client:
        listing = await client.list_models("loop")
    assert listing.models == ()
    assert listing.source is ListSource.NONE
    assert listing.warning is not None
    assert "NOWHERE_KEY" in listing.warning
    assert "no bundled catalog matches" in listing.warning


@pytest.mark.parametrize(
    ("provider_id", "first"),
    [
        ("amazon-bedrock", "openai.gpt-5.6-sol"),
        ("amazon-bedrock-runtime", "global.openai.gpt-5.6-sol"),
    ],
)
async def test_each_amazon_bedrock_built_in_lists_its_built_in_models_without_a_call(
    provider_id: str, first: str, anyio_backend: str
) -> None:
    attempts = Attempts()
    registry = ProviderRegistry.from_config(Config(), env={"AWS_REGION": "us-east-1"})
    client = make_client(registry=registry, observer=attempts)
    async with client:
        listing = await client.list_models(provider_id)
        again = await client.list_models(provider_id, refresh=True)
    assert attempts.urls == []  # neither a listing call nor anything else was sent
    assert listing.provider_id == provider_id
    assert listing.source is ListSource.BUILT_IN
    assert listing.catalog_only
    assert listing.warning is None
    assert (listing.stale, listing.cached, listing.fetched_at) == (False, False, None)
    assert listing.models[0].id == first
    # The client prices its listings; the seeded models are the same apart from that.
    unpriced = tuple(msgspec.structs.replace(model, price=None) for model in listing.models)
    assert unpriced == seed_bedrock_models(compatibility_catalog(), provider_id)
    assert again == listing


async def test_the_built_in_openai_without_a_key_lists_the_catalogs_openai_models(
    tmp_path: Path, anyio_backend: str
) -> None:
    attempts = Attempts()
    env = {"MODELWIRE_HOME": str(tmp_path)}  # no auth.json there, and no OPENAI_API_KEY
    registry = ProviderRegistry.from_config(Config(), env=env)
    async with make_client(registry=registry, observer=attempts, env=env) as client:
        listing = await client.list_models("openai")
    assert attempts.urls == []  # no key: nothing was sent
    assert listing.source is ListSource.COMPATIBILITY
    assert listing.warning is not None
    assert "OPENAI_API_KEY" in listing.warning
    assert listing.warning.endswith("showing the compatibility catalog's OpenAI models")
    assert listing.get("gpt-5") is not None


async def test_an_unknown_provider_id_raises(anyio_backend: str) -> None:
    async with make_client() as client:
        with pytest.raises(UnknownProviderError):
            await client.list_models("no-such-provider")


async def test_a_budget_that_is_not_positive_is_refused(anyio_backend: str) -> None:
    async with make_client(name="DeepSeek", base_url=LOOPBACK) as client:
        with pytest.raises(ValueError, match="timeout_s"):
            await client.list_models("loop", timeout_s=0)


def test_model_and_model_list_are_exported_lazily_from_the_package() -> None:
    assert modelwire.Model is Model
    assert modelwire.ModelList is ModelList
