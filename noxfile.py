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
