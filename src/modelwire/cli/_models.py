"""``modelwire models``: a provider's models as the picker sees them.

The table (or ``--json``) goes to stdout; warnings go to stderr, so a script piping the list
never parses them. An endpoint that cannot be asked is a one-line warning, not a failure, when
a catalog or an earlier answer still gives a list: the command fails only when nothing at all
can be listed. Answers are cached in ``$MODELWIRE_HOME/cache/models.json`` so that repeated runs
within the cache's TTL do not ask the provider again; ``--refresh`` does.

Prices are the client's ``PriceBook`` (the user's ``[model_providers.<id>.prices]``, then the
catalogs), in USD per million tokens, written exactly as the ``Decimal`` is (``0.075``, not
``7.5E-2`` or a rounded ``0.08``): a picker that rounded would show two different prices as
one. An unknown price is ``-``, never 0, because a missing price is not a free one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import anyio
import msgspec

from ..client import Client
from ..config import load_config, modelwire_home
from ..errors import ModelwireError
from ..models import Model, ModelCache, ModelList, ReasoningControl, list_models
from ..registry import ProviderRegistry
from ._main import provider_from_command_line

__all__ = ["models_cache_path", "run_models"]

COLUMNS = ("ID", "Name", "Context", "In $/M", "Out $/M", "Reasoning", "Input", "Source")
NUMERIC = frozenset({"Context", "In $/M", "Out $/M"})
"""Right-aligned, so digits line up."""


def models_cache_path(env: Mapping[str, str]) -> Path:
    """Where the command keeps endpoint answers between runs."""
    return modelwire_home(env) / "cache" / "models.json"


def run_models(
    args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO | None = None
) -> int:
    """List the models of ``--provider`` (default: config's provider); 0 when any were listed.

    Raises ``ModelwireError`` (one line, exit 1) when nothing could be listed."""
    err = sys.stderr if err is None else err
    registry = ProviderRegistry.from_config(load_config(env=env), env=env)
    if args.provider:
        provider_from_command_line(registry, args.provider)
    provider_id = args.provider or registry.default_provider_id
    client = Client(registry, env=env)
    client.model_cache = ModelCache(path=models_cache_path(env))
    listing = anyio.run(_list, client, provider_id, bool(args.refresh))
    if not listing.models:
        raise ModelwireError(listing.warning or _nothing_listed(listing))
    if listing.warning:
        err.write(f"modelwire: warning: {listing.warning}\n")
    if listing.hidden:
        err.write(
            f"modelwire: note: {len(listing.hidden)} listed id(s) left out as not chat models "
            "(--json names them under `hidden`)\n"
        )
    if args.json:
        out.write(msgspec.json.format(msgspec.json.encode(listing), indent=2).decode() + "\n")
    else:
        _print_table(listing, out)
    return 0


async def _list(client: Client, provider_id: str, refresh: bool) -> ModelList:
    """The client's listing, priced from the client's own book (the one its replies' costs
    use; ``None`` only for ``Client(prices=False)``)."""
    async with client:
        return await list_models(
            client,
            provider_id,
            cache=client.model_cache,
            refresh=refresh,
            prices=client.transport.prices,
        )


def _nothing_listed(listing: ModelList) -> str:
    hidden = f" ({len(listing.hidden)} non-chat id(s) left out)" if listing.hidden else ""
    return f"{listing.provider_id}: the model endpoint lists no models{hidden}"


def reasoning_cell(model: Model) -> str:
    """Control, then what is known about it: ``effort: low/medium/high``, ``thinking toggle``."""
    control = model.reasoning_control
    if control is ReasoningControl.NONE:
        return "none"
    if control is ReasoningControl.THINKING_TOGGLE:
        return "thinking toggle"
    levels = "/".join(model.supported_reasoning_levels) or "levels unknown"
    toggle = " + thinking toggle" if model.supports_thinking_toggle else ""
    return f"effort: {levels}{toggle}"


def price_cell(amount: Decimal | None) -> str:
    """USD per million tokens in plain notation (``format``'s ``f`` never writes an exponent);
    ``-`` when unknown."""
    return "-" if amount is None else format(amount, "f")


def _print_table(listing: ModelList, out: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in COLUMNS:
        table.add_column(
            column, no_wrap=column == "ID", justify="right" if column in NUMERIC else "left"
        )
    for model in listing.models:
        price = model.price
        table.add_row(
            model.id,
            model.display_name,
            f"{model.context_window:,}" if model.context_window else "-",
            price_cell(price.input if price else None),
            price_cell(price.output if price else None),
            reasoning_cell(model),
            ", ".join(model.input_modalities),
            "+".join(model.sources),
        )
    # As for `modelwire providers`: never wrap piped output, never read data as markup.
    width = None if out.isatty() else 10_000
    Console(file=out, width=width, markup=False, highlight=False, emoji=False).print(table)
