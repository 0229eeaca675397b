"""Developer sessions; CI runs the same tools through the README's test command.

nox -s lint typecheck tests     # what must stay green
nox -s bench                    # performance gates, full precision
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = ["3.11"]


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The unit and integration suites."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules (isort, pyupgrade, bugbear, banned APIs) and formatting."""
    session.install("ruff>=0.17,<0.18")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict on src/ (configured in pyproject.toml)."""
    session.install("-e", ".[dev]")
    session.run("mypy", "--strict")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmark gates at full precision; set MODELWIRE_BENCH_FAST=1 for the CI-sized run."""
    session.install("-e", ".[dev]")
    session.run("pytest", "benches", "-s", *session.posargs)


@nox.session(python=PYTHON)
def catalogs(session: nox.Session) -> None:
    """Regenerate both bundled catalogs.

    ``nox -s catalogs`` reads the live sources: models.dev, LiteLLM's metadata, and three
    providers' own model lists, each with a bearer token from the environment (Moonshot:
    MOONSHOT_API_KEY or KIMI_API_KEY; Z.AI: ZAI_API_KEY or ZHIPU_API_KEY; Groq:
    GROQ_API_KEY). A missing token fails the run naming the list and its variables.
    ``nox -s catalogs -- offline`` reads the snapshots in ../shared/data instead, including a
    recorded list for each of the three, which is how the committed files are made.
    """
    session.install("-e", ".")
    if "offline" in session.posargs:
        data = "../shared/data"
        session.run(
            "modelwire", "catalog", "generate", "providers",
            "--source", f"{data}/models-dev/api.json",
            "--live-source", f"moonshotai={data}/live-models/moonshotai.json",
            "--live-source", f"zai={data}/live-models/zai.json",
            "--live-source", f"groq={data}/live-models/groq.json",
        )  # fmt: skip
        session.run(
            "modelwire", "catalog", "generate", "compatibility",
            "--source", f"{data}/litellm/model_prices_and_context_window.json",
        )  # fmt: skip
    else:
        session.run("modelwire", "catalog", "generate", "providers")
        session.run("modelwire", "catalog", "generate", "compatibility")
