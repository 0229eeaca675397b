"""``modelwire decode``: replaying captured streams, and pointing at the bytes that broke."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import orjson
import pytest

from conformance.vectors import VECTORS_DIR
from modelwire.cli import main

HELLO = b'data: {"id":"c","model":"m","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\n'
BAD = b"data: {broken\n\n"
FINISH = b'data: {"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[dict[str, object]], str]:
    code = main(["decode", *argv])
    captured = capsys.readouterr()
    return code, [orjson.loads(line) for line in captured.out.splitlines()], captured.err


def test_a_good_stream_prints_each_event_then_the_final_aggregate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "ok.sse"
    path.write_bytes(HELLO + FINISH + b"data: [DONE]\n\n")
    code, lines, err = run(capsys, "--wire", "chat", "--read-size", "5", str(path))
    assert code == 0
    assert err == ""
    assert [line["type"] for line in lines] == ["start", "text_delta", "completed", "final"]
    assert lines[-1]["text"] == "hi"
    assert lines[-1]["finish_reason"] == "stop"


def test_a_malformed_stream_prints_what_decoded_the_error_and_where_then_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.sse"
    path.write_bytes(HELLO + BAD + FINISH)
    code, lines, err = run(capsys, "--wire", "chat", str(path))
    assert code == 1
    assert [line["type"] for line in lines] == ["start", "text_delta", "error", "final"]
    assert lines[2]["code"] == "decode_error"
    start, end = len(HELLO), len(HELLO) + len(BAD) - 1
    assert err == f"modelwire: {path}: SSE event #2 (bytes {start}-{end}) is malformed\n"


def test_stdin_is_read_with_a_dash(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(HELLO + FINISH)))
    code, lines, _ = run(capsys, "--wire", "chat", "-")
    assert code == 0
    assert lines[-1]["text"] == "hi"


def test_cuts_files_that_do_not_fit_the_stream_are_one_line_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "s.sse"
    stream.write_bytes(HELLO)
    for cuts, complaint in [
        ({"cuts": [5], "length": 3}, "describes a 3-byte stream"),
        ({"cuts": [9, 4]}, "cuts must increase strictly"),
        ({"cuts": [0]}, "cuts must increase strictly"),
        ({"nope": 1}, "not a chunks file"),
    ]:
        cuts_file = tmp_path / "s.chunks.json"
        cuts_file.write_bytes(orjson.dumps(cuts))
        code = main(["decode", "--wire", "chat", "--cuts", str(cuts_file), str(stream)])
        captured = capsys.readouterr()
        assert code == 1
        assert captured.out == ""
        assert complaint in captured.err
        assert len(captured.err.splitlines()) == 1


def test_a_missing_file_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["decode", "--wire", "chat", str(tmp_path / "absent.sse")])
    captured = capsys.readouterr()
    assert code == 1
    assert captured.err.startswith("modelwire: error: cannot read")
    assert len(captured.err.splitlines()) == 1


@pytest.mark.parametrize(
    "argv", [["--wire", "grpc", "f"], ["--wire", "chat", "--read-size", "0", "f"]]
)
def test_bad_options_are_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["decode", *argv])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.splitlines()) == 1


VECTORS = VECTORS_DIR


@pytest.mark.parametrize(
    ("vector", "wire", "actual"),
    [
        ("chat-01-text-usage", "messages", "chat"),
        ("messages-01-text", "chat", "messages"),
        ("responses-01-text", "messages", "responses"),
        ("messages-01-text", "responses", "messages"),
    ],
)
def test_the_wrong_wire_is_named_with_the_api_the_payloads_look_like(
    vector: str, wire: str, actual: str, capsys: pytest.CaptureFixture[str], shared: Path
) -> None:
    path = VECTORS / f"{vector}.sse"
    code, _, err = run(capsys, "--wire", wire, str(path))
    assert code == 1
    assert err == (
        f"modelwire: {path}: this stream does not look like --wire {wire}: its payloads look "
        f"like the {actual} API (try --wire {actual})\n"
    )


@pytest.mark.parametrize("vector", sorted(p.stem for p in VECTORS.glob("*.sse")))
def test_every_spec_vector_replayed_with_its_own_wire_is_never_called_the_wrong_one(
    vector: str, capsys: pytest.CaptureFixture[str]
) -> None:
    _, _, err = run(capsys, "--wire", vector.split("-")[0], str(VECTORS / f"{vector}.sse"))
    assert "does not look like" not in err


def test_a_cuts_file_of_the_wrong_shape_says_what_it_expects(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "s.sse"
    stream.write_bytes(HELLO)
    cuts_file = tmp_path / "s.chunks.json"
    cuts_file.write_bytes(b"[5, 9]")
    code = main(["decode", "--wire", "chat", "--cuts", str(cuts_file), str(stream)])
    (line,) = capsys.readouterr().err.splitlines()
    assert code == 1
    assert 'expected a JSON object {"cuts": [O1, O2, ...], "length": N}' in line


def test_the_cuts_format_is_described_in_the_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert '{"cuts": [O1, O2, ...], "length": N}' in shown


def test_max_event_bytes_caps_the_event_size_and_the_error_names_the_knob(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = tmp_path / "s.sse"
    stream.write_bytes(HELLO + FINISH)
    assert run(capsys, "--wire", "chat", str(stream))[0] == 0
    code, lines, _ = run(capsys, "--wire", "chat", "--max-event-bytes", "16", str(stream))
    assert code == 1
    error = lines[-1]["error"]
    assert isinstance(error, dict)
    assert error["code"] == "decode_error"
    assert "max_event_bytes (16 bytes)" in error["message"]
