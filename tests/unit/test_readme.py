"""The README is exactly true: its Python examples run as written against the mock, its command
list is ``modelwire --help``'s, and its exit-status table is what the command returns.

The examples run the way the README tells a newcomer to run them: ``modelwire mock
--demo-home DIR`` in its own process, ``MODELWIRE_HOME=DIR``, then the code unchanged.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelwire import ProviderRegistry, cli
from modelwire import registry as registry_module
from modelwire.cli import main
from modelwire.config import load_config

README = Path(__file__).resolve().parents[2] / "README.md"
TEXT = README.read_text()
PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# Variables that would send the examples somewhere other than the demo home.
ELSEWHERE = ("MODELWIRE_AUTH_HOME", "OPENAI_API_KEY", "ANTHROPIC_API_KEY", "EXAMPLE_API_KEY")


def python_blocks() -> list[tuple[int, str]]:
    """(line number, code) of every ```python block."""
    return [(TEXT.count("\n", 0, m.start()) + 2, m.group(1)) for m in PYTHON_BLOCK.finditer(TEXT)]


def section(title: str) -> str:
    start = TEXT.index(f"\n## {title}\n")
    end = TEXT.find("\n## ", start + 1)
    return TEXT[start : end if end != -1 else len(TEXT)]


@pytest.fixture(scope="module")
def demo_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``modelwire mock --demo-home DIR`` in a child process, as the README starts it."""
    home = tmp_path_factory.mktemp("readme") / "mock-home"
    process = subprocess.Popen(
        [sys.executable, "-m", "modelwire", "mock", "--demo-home", str(home)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        assert process.stderr is not None
        first = process.stdout.readline()
        assert first.startswith("listening on http://127.0.0.1:"), first + process.stderr.read()
        assert f"export MODELWIRE_HOME={home}" in process.stderr.readline()
        yield home
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=5)


def test_the_readme_shows_how_to_run_its_examples_against_the_mock() -> None:
    shown = section("Using it from Python")
    assert "modelwire mock --demo-home mock-home &" in shown
    assert "export MODELWIRE_HOME=$PWD/mock-home" in shown


@pytest.mark.parametrize(
    ("line", "code"), python_blocks(), ids=[f"README.md:{n}" for n, _ in python_blocks()]
)
def test_every_python_example_runs_as_written_against_the_mock(
    line: int,
    code: str,
    demo_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELWIRE_HOME", str(demo_home))
    monkeypatch.chdir(tmp_path)
    exec(compile(code, f"{README}:{line}", "exec"), {"__name__": "__main__"})
    assert "Traceback" not in capsys.readouterr().err


def test_the_examples_exercise_the_calls_they_show(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not only definitions: the client example streams from the mock and prints its reply."""
    for name in ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELWIRE_HOME", str(demo_home))
    (client_example,) = [code for _, code in python_blocks() if "client.stream(" in code]
    exec(compile(client_example, str(README), "exec"), {"__name__": "__main__"})
    assert capsys.readouterr().out == "Echo: hiEcho: hi stop\n"


def test_the_conversation_example_chains_its_turns_over_a_socket(
    demo_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ELSEWHERE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELWIRE_HOME", str(demo_home))
    (example,) = [code for _, code in python_blocks() if "client.conversation(" in code]
    exec(compile(example, str(README), "exec"), {"__name__": "__main__"})
    first, second = capsys.readouterr().out.splitlines()
    assert first.startswith("Echo: What is the capital of Norway? resp_")
    assert second == "Echo: And of Sweden?websocket 4"


def commands_in_help(capsys: pytest.CaptureFixture[str]) -> list[str]:
    with pytest.raises(SystemExit):
        main(["--help"])
    shown = capsys.readouterr().out
    listed = shown[shown.index("  COMMAND\n") : shown.index("\noptions:")]
    return re.findall(r"^    ([a-z][a-z-]*)", listed, re.MULTILINE)


def readme_command_lines() -> list[tuple[list[str], list[str]]]:
    """(sub-command words, flags) per command of the README's command block; indented lines
    continue the command above."""
    block = section("The command").split("```\n", 2)[1]
    commands: list[tuple[list[str], list[str]]] = []
    for text in block.splitlines():
        synopsis = text if text.startswith(" ") else text.split("  ")[0]  # not the description
        flags = re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", synopsis)
        if text.startswith(" "):
            commands[-1][1].extend(flags)
            continue
        words = []
        for word in text.split()[1:]:
            if not re.fullmatch(r"[a-z][a-z-]*", word):
                break
            words.append(word)
        commands.append((words, flags))
    return commands


def test_the_readme_lists_exactly_the_commands_of_modelwire_help(
    capsys: pytest.CaptureFixture[str],
) -> None:
    in_help = commands_in_help(capsys)
    assert {words[0] for words, _ in readme_command_lines()} == set(in_help)
    # The Status paragraph names them too (in the order they were built).
    status = " ".join(section("Status").split())
    named = re.search(r"the `modelwire ([a-z |-]+)` commands", status)
    assert named is not None
    # (`catalog generate` is named with its sub-command)
    assert sorted(name.split()[0] for name in named.group(1).split("|")) == sorted(in_help)


@pytest.mark.parametrize(
    ("words", "flags"),
    readme_command_lines(),
    ids=[" ".join(words) for words, _ in readme_command_lines()],
)
def test_every_flag_the_readme_shows_is_in_that_commands_help(
    words: list[str], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([*words, "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    for flag in flags:
        assert re.search(rf"(?<![\w-]){flag}(?![\w-])", shown), (words, flag)


def test_the_exit_status_table_is_the_one_the_command_uses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path))
    table = section("The command").split("| exit status | meaning |")[1]
    codes = [int(code) for code in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)]
    assert codes == [cli.EXIT_OK, cli.EXIT_ERROR, cli.EXIT_USAGE, cli.EXIT_INTERRUPTED]
    assert main(["harness", "--provider", "openai"]) == 0
    assert main(["decode", "--wire", "chat", str(tmp_path / "absent.sse")]) == 1
    assert main(["chat", "--provider", "opnai", "hi"]) == 2
    with pytest.raises(SystemExit) as exit_info:
        main(["chat", "--bogus"])
    assert exit_info.value.code == 2
    capsys.readouterr()


TOML_BLOCK = re.compile(r"^```toml\n(.*?)^```", re.DOTALL | re.MULTILINE)


@pytest.mark.parametrize(
    "block", TOML_BLOCK.findall(TEXT), ids=lambda b: b.splitlines()[0].split("#")[0].strip()
)
def test_every_config_example_loads_and_replaces_no_catalog_entry_carelessly(
    block: str, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(registry_module, "_warned", set())
    path = tmp_path / "config.toml"
    path.write_text(block)
    with caplog.at_level("WARNING", logger="modelwire.config"):
        ProviderRegistry.from_config(load_config(path), env={})
    assert [r.getMessage() for r in caplog.records if r.name == "modelwire.config"] == []
