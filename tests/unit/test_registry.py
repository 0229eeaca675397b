"""The registry: merge order, built-in overrides, the lazy catalog seam, lookups and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

import pytest

from modelwire import registry as registry_module
from modelwire.config import validate_config
from modelwire.errors import ConfigError, UnknownProviderError
from modelwire.providers import AuthKind, ProviderAuthInfo, ProviderAwsInfo, ProviderInfo, WireApi
from modelwire.registry import CatalogListing, ProviderRegistry, ProviderSource

BUILT_IN_ORDER = ["openai", "amazon-bedrock", "amazon-bedrock-runtime", "ollama", "lmstudio"]


class CountingCatalog:
    """A catalog source that records how often it is read."""

    def __init__(self, listings: Iterable[CatalogListing]) -> None:
        self.listings = list(listings)
        self.reads = 0

    def __call__(self) -> list[CatalogListing]:
        self.reads += 1
        return self.listings


def catalog_entry(provider_id: str, name: str, base_url: str, models: int = 3) -> CatalogListing:
    info = ProviderInfo(
        name=name, base_url=base_url, env_key=f"{provider_id.upper()}_KEY", wire_api=WireApi.CHAT
    )
    return CatalogListing(provider_id, info, models)


def registry(
    toml: Mapping[str, object] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    catalog: CountingCatalog | None = None,
) -> ProviderRegistry:
    config = validate_config(toml or {})
    return ProviderRegistry.from_config(config, env=env or {}, catalog=catalog)


def test_built_ins_exist_before_any_catalog_or_config() -> None:
    reg = registry()
    assert list(reg.ids()) == BUILT_IN_ORDER
    assert all(p.source is ProviderSource.BUILT_IN for p in reg)
    assert len(reg) == 5


def test_configured_providers_extend_the_built_ins() -> None:
    reg = registry({"model_providers": {"example": {"base_url": "https://api.example.com/v1"}}})
    assert list(reg.ids())[-1] == "example"
    assert reg["example"].source is ProviderSource.CONFIG
    assert reg.get("openai").name == "OpenAI"


def test_catalog_entries_join_but_config_wins_and_built_ins_are_never_replaced() -> None:
    catalog = CountingCatalog(
        [
            catalog_entry("groq", "Groq", "https://api.groq.com/openai/v1"),
            catalog_entry("openrouter", "OpenRouter", "https://openrouter.ai/api/v1"),
            catalog_entry("openai", "Not OpenAI", "https://elsewhere.example/v1"),
        ]
    )
    proxy = {"name": "OpenRouter via proxy", "base_url": "http://127.0.0.1:9000/v1"}
    reg = registry({"model_providers": {"openrouter": proxy}}, catalog=catalog)
    assert reg["groq"].source is ProviderSource.CATALOG
    assert reg["groq"].models == 3
    assert reg["openrouter"].source is ProviderSource.CONFIG
    assert reg["openrouter"].base_url == "http://127.0.0.1:9000/v1"
    assert reg["openai"].name == "OpenAI"
    ids = list(reg.ids())
    assert ids.count("openrouter") == 1
    assert ids.count("openai") == 1
    assert len(reg) == len(ids) == 7


def test_catalog_is_not_read_for_built_in_or_configured_lookups_and_read_once_otherwise() -> None:
    catalog = CountingCatalog([catalog_entry("groq", "Groq", "https://api.groq.com/openai/v1")])
    reg = registry(catalog=catalog)
    reg.get("openai")
    assert catalog.reads == 0
    reg.get("groq")
    reg.get("groq")
    list(reg)
    assert "groq" in reg
    assert catalog.reads == 1


def test_a_config_with_tables_of_its_own_reads_the_catalog_once_when_the_registry_is_built() -> (
    None
):
    catalog = CountingCatalog([catalog_entry("groq", "Groq", "https://api.groq.com/openai/v1")])
    reg = registry({"model_providers": {"corp": {"base_url": "http://h/v1"}}}, catalog=catalog)
    assert catalog.reads == 1
    reg.get("corp")
    reg.get("groq")
    list(reg)
    assert catalog.reads == 1


# --- a configured table that replaces a catalog provider -------------------------------------

ANTHROPIC = CatalogListing(
    "anthropic",
    ProviderInfo(
        name="Anthropic",
        base_url="https://api.anthropic.com",
        env_key="ANTHROPIC_API_KEY",
        wire_api=WireApi.MESSAGES,
    ),
    24,
)
PROXY = "https://llm-proxy.corp.example/anthropic"


@pytest.fixture
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget which replacement warnings this process already gave."""
    monkeypatch.setattr(registry_module, "_warned", set())


def replacement_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "modelwire.config"]


@pytest.mark.usefixtures("fresh_warnings")
def test_a_table_that_replaces_a_catalog_entry_and_drops_its_wire_api_and_key_warns_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    toml = {"model_providers": {"anthropic": {"base_url": PROXY}}}
    with caplog.at_level(logging.WARNING, logger="modelwire.config"):
        reg = registry(toml, catalog=CountingCatalog([ANTHROPIC]))
        registry(toml, catalog=CountingCatalog([ANTHROPIC]))
    (warning,) = replacement_warnings(caplog)
    assert "\n" not in warning
    assert warning.startswith("model_providers.anthropic replaces the catalog provider Anthropic")
    assert 'wire_api = "messages"' in warning
    assert 'env_key = "ANTHROPIC_API_KEY"' in warning
    shadow = reg["anthropic"]
    assert (shadow.source, shadow.info.wire_api, shadow.info.env_key) == (
        ProviderSource.CONFIG,
        WireApi.RESPONSES,
        None,
    )


@pytest.mark.usefixtures("fresh_warnings")
@pytest.mark.parametrize(
    ("table", "dropped"),
    [
        ({"wire_api": "messages"}, ['env_key = "ANTHROPIC_API_KEY"']),
        ({"env_key": "PROXY_KEY"}, ['wire_api = "messages"']),
        ({"auth": {"command": "print-token"}}, ['wire_api = "messages"']),
        ({"experimental_bearer_token": "proxy-token-value"}, ['wire_api = "messages"']),
        ({"wire_api": "messages", "env_key": "PROXY_KEY"}, []),
        ({"wire_api": "responses", "env_key": "ANTHROPIC_API_KEY"}, []),
    ],
)
def test_the_warning_names_only_what_the_table_leaves_out(
    caplog: pytest.LogCaptureFixture, table: dict[str, object], dropped: list[str]
) -> None:
    toml = {"model_providers": {"anthropic": {"base_url": PROXY, **table}}}
    with caplog.at_level(logging.WARNING, logger="modelwire.config"):
        registry(toml, catalog=CountingCatalog([ANTHROPIC]))
    warnings = replacement_warnings(caplog)
    if not dropped:
        assert warnings == []
        return
    (warning,) = warnings
    assert " and ".join(dropped) in warning
    assert "proxy-token-value" not in caplog.text


@pytest.mark.usefixtures("fresh_warnings")
def test_a_table_with_an_id_the_catalog_does_not_have_replaces_nothing_and_is_quiet(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="modelwire.config"):
        reg = registry(
            {"model_providers": {"corp": {"base_url": PROXY}}}, catalog=CountingCatalog([ANTHROPIC])
        )
    assert replacement_warnings(caplog) == []
    assert reg.replaced("corp") is None


def test_replaced_names_the_catalog_entry_only_for_a_configured_provider() -> None:
    reg = registry(
        {"model_providers": {"anthropic": {"base_url": PROXY, "wire_api": "messages"}}},
        catalog=CountingCatalog([ANTHROPIC, catalog_entry("groq", "Groq", "https://g/v1")]),
    )
    replaced = reg.replaced("anthropic")
    assert replaced is not None
    assert (replaced.source, replaced.info.env_key) == (ProviderSource.CATALOG, "ANTHROPIC_API_KEY")
    assert reg.replaced("groq") is None
    assert reg.replaced("openai") is None
    assert reg.replaced("missing") is None


def test_unknown_provider_suggests_close_ids() -> None:
    with pytest.raises(UnknownProviderError) as caught:
        registry().get("opneai")
    assert caught.value.provider_id == "opneai"
    assert caught.value.suggestions == ["openai"]
    assert "did you mean 'openai'?" in str(caught.value)
    with pytest.raises(LookupError):
        registry().get("nothing-like-it")


def test_removed_id_lookup_points_to_its_replacement() -> None:
    with pytest.raises(ConfigError, match="use `ollama` instead"):
        registry().get("ollama-chat")


def test_default_provider_is_openai_unless_config_selects_one() -> None:
    assert registry().default().id == "openai"
    reg = registry(
        {"model_provider": "example", "model_providers": {"example": {"base_url": "http://h"}}}
    )
    assert reg.default().id == "example"
    with pytest.raises(UnknownProviderError):
        registry({"model_provider": "missing"}).default()


def test_bedrock_base_url_follows_the_region() -> None:
    assert registry().get("amazon-bedrock").base_url == (
        "https://bedrock-mantle.us-east-1.api.aws/openai/v1"
    )
    by_env = registry(env={"AWS_REGION": "eu-central-1"})
    assert by_env["amazon-bedrock"].base_url == (
        "https://bedrock-mantle.eu-central-1.api.aws/openai/v1"
    )
    by_config = registry(
        {"model_providers": {"amazon-bedrock": {"aws": {"region": "ap-northeast-1"}}}},
        env={"AWS_REGION": "eu-central-1"},
    )
    assert by_config["amazon-bedrock"].base_url == (
        "https://bedrock-mantle.ap-northeast-1.api.aws/openai/v1"
    )


@pytest.mark.parametrize(
    ("table", "env", "region"),
    [
        ({}, {}, "us-east-1"),
        ({}, {"AWS_DEFAULT_REGION": "eu-west-3"}, "eu-west-3"),
        ({}, {"AWS_REGION": "us-west-1", "AWS_DEFAULT_REGION": "eu-west-3"}, "us-west-1"),
        ({"aws": {"region": " ca-central-1 "}}, {"AWS_REGION": "us-west-1"}, "ca-central-1"),
    ],
)
def test_bedrock_runtime_base_url_follows_the_same_region_resolution(
    table: dict[str, object], env: dict[str, str], region: str
) -> None:
    reg = registry({"model_providers": {"amazon-bedrock-runtime": table}}, env=env)
    runtime = reg["amazon-bedrock-runtime"]
    assert runtime.base_url == f"https://bedrock-runtime.{region}.amazonaws.com/openai/v1"


def test_a_bedrock_runtime_base_url_override_is_used_as_given() -> None:
    proxy = "https://bedrock-proxy.example/openai/v1"
    reg = registry(
        {"model_providers": {"amazon-bedrock-runtime": {"base_url": proxy}}},
        env={"AWS_REGION": "not a region"},
    )
    assert reg["amazon-bedrock-runtime"].base_url == proxy
    assert reg["amazon-bedrock"].error is not None


def test_register_refuses_aws_for_a_provider_of_ones_own() -> None:
    with pytest.raises(ConfigError, match="aws is only supported for amazon-bedrock and"):
        registry().register(
            "my-bedrock", ProviderInfo(base_url="https://x.example/v1", aws=ProviderAwsInfo())
        )


def test_bedrock_in_an_unserved_region_is_listed_but_unusable() -> None:
    reg = registry(env={"AWS_REGION": "ca-central-1"})
    bedrock = reg["amazon-bedrock"]
    assert bedrock.error is not None
    assert [p.id for p in reg] == BUILT_IN_ORDER
    with pytest.raises(ConfigError, match="not served in region 'ca-central-1'"):
        _ = bedrock.base_url
    runtime = reg["amazon-bedrock-runtime"]
    assert runtime.error is None
    assert runtime.base_url == "https://bedrock-runtime.ca-central-1.amazonaws.com/openai/v1"
    with pytest.raises(ConfigError):
        bedrock.usable()
    assert reg["openai"].usable().base_url == "https://api.openai.com/v1"


def test_bedrock_accepts_its_five_overridable_keys() -> None:
    override = {
        "base_url": "https://proxy.example/openai/v1",
        "http_headers": {"x-team": "blue"},
        "aws": {"profile": "work", "region": "us-west-2"},
    }
    bedrock = registry({"model_providers": {"amazon-bedrock": override}})["amazon-bedrock"]
    assert bedrock.base_url == "https://proxy.example/openai/v1"
    assert bedrock.info.http_headers == {
        "x-amzn-mantle-client-agent": "modelwire",
        "x-team": "blue",
    }
    assert bedrock.info.aws == ProviderAwsInfo(profile="work", region="us-west-2")
    assert bedrock.info.name == "Amazon Bedrock"
    assert bedrock.info.auth_kind is AuthKind.AWS_SIGV4


def test_bedrock_profile_override_keeps_the_default_region() -> None:
    override = {"aws": {"profile": "work"}}
    bedrock = registry({"model_providers": {"amazon-bedrock": override}})["amazon-bedrock"]
    assert bedrock.info.aws == ProviderAwsInfo(profile="work", region=None)
    assert "us-east-1" in bedrock.base_url


def test_bedrock_command_auth_replaces_sigv4() -> None:
    override = {"auth": {"command": "bedrock-token", "args": ["print"]}}
    bedrock = registry({"model_providers": {"amazon-bedrock": override}})["amazon-bedrock"]
    assert bedrock.info.auth == ProviderAuthInfo(command="bedrock-token", args=["print"])
    assert bedrock.info.auth_kind is AuthKind.COMMAND
    assert "bedrock-mantle.us-east-1" in bedrock.base_url


def test_openai_base_url_can_be_configured() -> None:
    reg = registry({"model_providers": {"openai": {"base_url": "http://127.0.0.1:8080/v1"}}})
    assert reg["openai"].base_url == "http://127.0.0.1:8080/v1"
    assert reg["openai"].info.requires_openai_auth
    assert reg["openai"].source is ProviderSource.BUILT_IN


def test_configured_oss_base_url_wins_over_the_environment_default() -> None:
    reg = registry(
        {"model_providers": {"ollama": {"base_url": "http://gpu:11434/v1"}}},
        env={"MODELWIRE_OSS_PORT": "9000"},
    )
    assert reg["ollama"].base_url == "http://gpu:11434/v1"
    assert reg["lmstudio"].base_url == "http://localhost:9000/v1"


def test_register_adds_a_validated_code_defined_provider() -> None:
    reg = registry()
    provider = reg.register("corp", ProviderInfo(base_url="http://h/v1", env_key="CORP_KEY"))
    assert provider.name == "corp"
    assert reg["corp"] is provider
    with pytest.raises(ConfigError, match="auth cannot be combined with env_key"):
        reg.register("bad", ProviderInfo(env_key="K", auth=ProviderAuthInfo(command="c")))
    with pytest.raises(ConfigError, match="built-in provider"):
        reg.register("openai", ProviderInfo())
    with pytest.raises(ConfigError, match="use `ollama`"):
        reg.register("ollama-chat", ProviderInfo())
    assert "bad" not in reg


def test_register_refuses_a_blank_id_or_something_that_is_not_a_provider_info() -> None:
    reg = registry()
    for bad_id in ("", "  ", 5):
        with pytest.raises(ConfigError, match="provider id must be a non-blank str"):
            reg.register(bad_id, ProviderInfo())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="expected a ProviderInfo, got dict") as caught:
        reg.register("corp", {"base_url": "http://h/v1"})  # type: ignore[arg-type]
    assert caught.value.key_path == "model_providers.corp"
    assert "corp" not in reg


@pytest.mark.parametrize("url", ["localhost:11434/v1", "http://h:99999/v1", "http://[::1/v1"])
def test_an_unusable_oss_base_url_in_the_environment_names_the_variable(url: str) -> None:
    with pytest.raises(ConfigError) as caught:
        registry(env={"MODELWIRE_OSS_BASE_URL": url})
    assert str(caught.value).startswith("MODELWIRE_OSS_BASE_URL ")
    assert "\n" not in str(caught.value)


def test_every_bundled_catalog_provider_passes_the_provider_checks() -> None:
    reg = ProviderRegistry.from_config(validate_config({}), env={})
    catalog = [p for p in reg if p.source is ProviderSource.CATALOG]
    assert len(catalog) > 50
    for provider in catalog:
        assert provider.info.wire_api in set(WireApi)
        assert provider.base_url.startswith(("https://", "http://"))
