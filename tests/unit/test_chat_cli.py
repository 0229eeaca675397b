"""``modelwire chat``: the README's main job, with the embedded mock or a configured provider."""

from __future__ import annotations

import io
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from modelwire.cli import main
from modelwire.mock import MockBehavior, MockProvider


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("MOCK_KEY", "OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def configure(
    home: Path,
    base_url: str,
    *,
    model: str | None = "mock-model",
    wire_api: str = "chat",
    sockets: bool = False,
) -> None:
    home.mkdir(parents=True, exist_ok=True)
    lines = [
        'model_provider = "loop"',
        *([f'model = "{model}"'] if model else []),
        "[model_providers.loop]",
        'name = "Loop"',
        f'base_url = "{base_url}"',
        'env_key = "MOCK_KEY"',
        f'wire_api = "{wire_api}"',
        *(["supports_websockets = true"] if sockets else []),
    ]
    (home / "config.toml").write_text("\n".join(lines) + "\n")


def test_with_nothing_configured_the_embedded_mock_answers(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hello from a fresh machine"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Echo: hello from a fresh machine\n"
    assert "embedded mock provider" in captured.err
    assert "[finished] stop" in captured.err
    assert "[usage]" in captured.err


def test_json_prints_the_common_events(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["chat", "--json", "hi"]) == 0
    events = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["type"] == "start"
    assert events[-1] == {
        "type": "completed",
        "finish_reason": "stop",
        "raw_finish_reason": "completed",
    }
    assert "".join(e["text"] for e in events if e["type"] == "text_delta") == "Echo: hi"


def test_a_configured_provider_is_called_with_its_key(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "sk-cli-secret")
    with MockProvider(require_bearer="sk-cli-secret") as mock:
        configure(home, mock.url("/v1"))
        assert main(["chat", "ping"]) == 0
        assert mock.requests[-1]["path"] == "/v1/chat/completions"
    captured = capsys.readouterr()
    assert captured.out == "Echo: ping\n"
    assert "embedded mock" not in captured.err
    assert "sk-cli-secret" not in captured.out + captured.err


def test_a_missing_key_is_one_line_naming_the_variable(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider() as mock:
        configure(home, mock.url("/v1"))
        assert main(["chat", "ping"]) == 1
        assert mock.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "MOCK_KEY" in err


def test_a_provider_without_a_model_is_a_one_line_usage_error_asking_for_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    configure(home, "http://127.0.0.1:9/v1", model=None)
    assert main(["chat", "ping"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "--model" in err


def test_a_stream_that_fails_exits_with_status_one(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "k")
    with MockProvider() as mock:
        configure(home, mock.url("/v1"))
        mock.enqueue(MockBehavior(malformed="json"))
        assert main(["chat", "ping"]) == 1
    assert "[error] decode_error" in capsys.readouterr().err


def test_a_dash_reads_the_prompt_from_stdin(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("what is\nthis pipe?\n"))
    assert main(["chat", "-"]) == 0
    assert capsys.readouterr().out == "Echo: what is\nthis pipe?\n"


def test_an_empty_prompt_on_stdin_is_a_one_line_usage_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert main(["chat", "-"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "modelwire: error: the prompt read from stdin (`-`) is empty\n"


def json_lines(out: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.splitlines()]


def test_transport_websocket_streams_over_a_socket_and_json_names_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "sk-socket-secret")
    with MockProvider(require_bearer="sk-socket-secret") as mock:
        configure(home, mock.url("/v1"), wire_api="responses", sockets=True)
        assert main(["chat", "--json", "--transport", "websocket", "ping"]) == 0
        assert mock.state.sockets_opened == 1
        assert [request["method"] for request in mock.requests] == ["GET", "WS"]
    captured = capsys.readouterr()
    lines = json_lines(captured.out)
    assert lines[0]["type"] == "start"
    assert lines[1] == {"type": "call", "transport": "websocket", "fallback": None}
    assert lines[-1]["type"] == "completed"
    assert "".join(str(e["text"]) for e in lines if e["type"] == "text_delta") == "Echo: ping"
    assert "sk-socket-secret" not in captured.out + captured.err


def test_transport_http_keeps_a_socket_capable_provider_on_http(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "k")
    with MockProvider() as mock:
        configure(home, mock.url("/v1"), wire_api="responses", sockets=True)
        assert main(["chat", "--json", "--transport", "http", "ping"]) == 0
        assert mock.state.sockets_opened == 0
        assert [request["path"] for request in mock.requests] == ["/v1/responses"]
    assert json_lines(capsys.readouterr().out)[1] == {
        "type": "call",
        "transport": "http",
        "fallback": None,
    }


def test_auto_falling_back_to_http_says_why_in_json_and_on_stderr(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "k")
    with MockProvider() as mock:
        configure(home, mock.url("/v1"), wire_api="responses", sockets=True)
        for argv in (["chat", "--json", "ping"], ["chat", "ping"]):
            mock.enqueue(MockBehavior(socket_refuse=404))  # taken by the next handshake
            assert main(argv) == 0
    captured = capsys.readouterr()
    call = next(orjson.loads(line) for line in captured.out.splitlines() if '"call"' in line)
    assert call["transport"] == "http"
    assert "HTTP 404" in str(call["fallback"])
    assert "[transport] http (fell back from a WebSocket: " in captured.err


def test_transport_websocket_on_a_chat_wire_provider_is_a_one_line_usage_error(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "k")
    with MockProvider() as mock:
        configure(home, mock.url("/v1"))
        assert main(["chat", "--transport", "websocket", "ping"]) == 2
        assert mock.requests == []
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("modelwire: error: --transport websocket: loop does not ")
    assert "supports_websockets" in captured.err


def test_an_unknown_transport_is_refused_by_the_parser(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["chat", "--transport", "carrier-pigeon", "ping"])
    assert exited.value.code == 2
    assert "invalid choice: 'carrier-pigeon'" in capsys.readouterr().err


def test_the_embedded_mock_answers_over_a_socket_when_asked(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "--transport", "websocket", "hi"]) == 0
    captured = capsys.readouterr()
    assert captured.out == "Echo: hi\n"
    assert "[transport] websocket\n" in captured.err


def test_plain_chat_on_the_embedded_mock_stays_on_http(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hi"]) == 0
    assert "[transport] http\n" in capsys.readouterr().err


def test_chat_prints_the_cost_with_the_usage_and_json_carries_it(
    home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("MOCK_KEY", "k")
    with MockProvider() as mock:
        configure(home, mock.url("/v1"))
        with (home / "config.toml").open("a") as config:
            config.write('[model_providers.loop.prices."mock-model"]\ninput = 2\noutput = 10\n')
        assert main(["chat", "what does it cost"]) == 0
        text = capsys.readouterr().err
        assert main(["chat", "--json", "what does it cost"]) == 0
        events = json_lines(capsys.readouterr().out)
    (usage,) = [event for event in events if event["type"] == "usage"]
    assert isinstance(usage["cost"], dict)
    expected = (
        Decimal(str(usage["input_tokens"])) * 2 + Decimal(str(usage["output_tokens"])) * 10
    ) / (10**6)
    assert Decimal(str(usage["cost"]["total"])) == expected
    assert usage["cost"]["source"] == "config"
    assert f"[cost] ${expected:.6f} (config price of mock-model)" in text


def test_an_unpriced_model_s_cost_is_said_to_be_unknown(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chat", "hi"]) == 0
    err = capsys.readouterr().err
    assert "[cost] unknown: no price known for" in err
    assert "$0" not in err
