"""The public surface: ``__all__`` is exactly what is public, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import modelwire


def test_all_lists_exactly_the_public_names() -> None:
    public = {
        name
        for name, value in vars(modelwire).items()
        if not name.startswith("_") and not isinstance(value, type(modelwire))
    }
    lazy = set(modelwire._LAZY)
    assert set(modelwire.__all__) == public | lazy | {"__version__"}
    assert all(getattr(modelwire, name) is not None for name in lazy)
    assert len(modelwire.__all__) == len(set(modelwire.__all__))


def test_every_exported_error_derives_from_modelwire_error() -> None:
    errors = [getattr(modelwire, n) for n in modelwire.__all__ if n.endswith(("Error", "Timeout"))]
    assert errors
    assert all(issubclass(e, modelwire.ModelwireError) for e in errors)


def test_import_does_not_load_the_cli_or_its_presentation_libraries() -> None:
    probe = (
        "import sys, modelwire; "
        "print(sorted(m for m in ('rich', 'tomlkit', 'modelwire.cli', 'modelwire.setup', "
        "'httpx', 'uvicorn', 'starlette', 'modelwire.client', 'modelwire.mock') "
        "if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"
