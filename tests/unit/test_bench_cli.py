"""``modelwire bench``: the mock in a child process on a fresh machine, configured targets side
by side."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import NoReturn

import pytest

from modelwire.bench import (
    BenchError,
    MockProfile,
    RequestRecord,
    Settings,
    Target,
    TargetResult,
    read_result,
    summarize,
)
from modelwire.bench._report import LiveProgress
from modelwire.cli import _bench as _bench_cli
from modelwire.cli import main
from modelwire.mock import MockBehavior, MockProvider


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MODELWIRE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def configure(home: Path, base_url: str, *, failing: bool = False) -> None:
    """Providers ``loop`` (chat, the default, with a default model), ``loop2`` (messages) and
    ``sock`` (responses, over HTTP or a WebSocket)."""
    home.mkdir(parents=True, exist_ok=True)
    retries = "request_max_retries = 0\n" if failing else ""
    (home / "config.toml").write_text(
        'model_provider = "loop"\nmodel = "mock-model"\n'
        f'[model_providers.loop]\nbase_url = "{base_url}/v1"\nwire_api = "chat"\n{retries}'
        f'[model_providers.loop2]\nbase_url = "{base_url}"\nwire_api = "messages"\n'
        f'[model_providers.sock]\nbase_url = "{base_url}/v1"\nwire_api = "responses"\n'
        "supports_websockets = true\n"
    )


def mock_pid(err: str) -> int:
    """The child's pid, from the note a no-target run writes first."""
    match = re.search(r"in a child process \(pid (\d+)\) at http://127\.0\.0\.1:\d+ ", err)
    assert match is not None, err
    return int(match.group(1))


def gone(pid: int) -> bool:
    """The process has exited and been reaped (a zombie would still answer signal 0)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture
def no_mock_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any attempt to serve the mock from the benchmark's own process."""

    def refuse(self: MockProvider) -> None:
        raise AssertionError("the benchmark started the mock in its own process")

    monkeypatch.setattr(MockProvider, "start", refuse)


@pytest.mark.usefixtures("no_mock_in_process")
def test_with_no_target_a_mock_in_a_child_process_is_benchmarked_with_the_clients_overhead(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    args = ["bench", "--requests", "3", "--concurrency", "3", "--max-tokens", "3"]
    assert main([*args, "--warmup", "0", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    pid = mock_pid(captured.err)
    assert pid != os.getpid()
    assert gone(pid)
    assert "modelwire-mock:mock-model: 3/3 ok" in captured.err  # stderr is no TTY here
    assert "modelwire-mock:mock-model" in captured.out
    assert "TTFT ms  p50 / p90 / p99" in captured.out
    assert "concurrency 3" in captured.out
    assert "client overhead on TTFT (mock TTFT 0, 100 requests each way)" in captured.out
    result = read_result(out)
    assert result.mock_profile == MockProfile()
    assert result.client_overhead is not None
    assert result.client_overhead.modelwire_ttft_ms.p50 < 100  # the profile's 300 ms did not apply
    assert (result.settings.requests, result.settings.max_tokens) == (3, 3)
    records = result.targets[0].requests
    assert [record.output_tokens for record in records] == [3, 3, 3]
    ttfts = [record.ttft_ms or 0 for record in records]
    assert min(ttfts) >= result.mock_profile.ttft_ms / 4  # the profile's latency, not zero


@pytest.mark.usefixtures("no_mock_in_process")
@pytest.mark.parametrize(
    ("failure", "status"),
    [(KeyboardInterrupt(), 130), (BenchError("the run broke"), 1)],
    ids=["interrupted", "failed"],
)
def test_a_no_target_run_that_fails_or_is_interrupted_still_stops_its_mock_process(
    failure: BaseException,
    status: int,
    home: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async def fail(*args: object, **kwargs: object) -> NoReturn:
        raise failure

    monkeypatch.setattr(_bench_cli, "run_benchmark", fail)
    assert main(["bench", "--requests", "1"]) == status
    assert gone(mock_pid(capsys.readouterr().err))


def test_configured_targets_are_benchmarked_side_by_side(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(ttft_ms=10, output_tokens=4)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--provider", "loop2:mock-mini"]
        assert main([*argv, "--requests", "2", "--prompt-tokens", "9", "--json", str(out)]) == 0
        paths = sorted(request["path"] for request in mock.requests)
    assert paths == ["/v1/chat/completions"] * 3 + ["/v1/messages"] * 3  # 1 warm-up + 2 each
    captured = capsys.readouterr()
    header = next(line for line in captured.out.splitlines() if "loop:mock-model" in line)
    assert "loop2:mock-mini" in header
    assert "client overhead" not in captured.out
    assert "child process" not in captured.err
    result = read_result(out)
    assert [(t.provider, t.model) for t in result.targets] == [
        ("loop", "mock-model"),
        ("loop2", "mock-mini"),
    ]
    assert result.settings.prompt_tokens == 9
    assert len(result.settings.prompt.split()) == 9
    assert result.mock_profile is None
    assert result.client_overhead is None


def test_a_target_without_a_model_is_a_usage_error_unless_it_is_the_configured_default(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider() as mock:
        configure(home, mock.base_url)
        assert main(["bench", "--provider", "loop2", "--requests", "1"]) == 2
        assert mock.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "no model for 'loop2' (use loop2:MODEL)" in err


def test_a_target_with_no_successful_request_exits_1_with_its_errors_in_the_table(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider(behavior=MockBehavior(status=500)) as mock:
        configure(home, mock.base_url, failing=True)
        assert main(["bench", "--provider", "loop", "--requests", "2", "--warmup", "0"]) == 1
    out = capsys.readouterr().out
    assert "ProviderError: 2" in out
    assert "0 / 2" in out


def test_plot_without_matplotlib_names_the_extra_before_sending_anything(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec then reports it missing
    with MockProvider() as mock:
        configure(home, mock.base_url)
        assert main(["bench", "--provider", "loop", "--plot", str(tmp_path / "p.png")]) == 1
        assert mock.requests == []
    assert "pip install 'modelwire[plot]'" in capsys.readouterr().err


def test_plot_draws_the_latency_distributions(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib", reason="--plot needs the optional matplotlib extra")
    plot = tmp_path / "latency.png"
    with MockProvider(behavior=MockBehavior(output_tokens=3)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--provider", "loop2:m", "--requests", "3"]
        assert main([*argv, "--plot", str(plot)]) == 0
    assert plot.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert f"wrote {plot}" in capsys.readouterr().err


def test_an_output_file_in_a_missing_directory_fails_before_sending_anything(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider() as mock:
        configure(home, mock.base_url)
        missing = tmp_path / "nowhere" / "run.json"
        assert main(["bench", "--provider", "loop", "--json", str(missing)]) == 1
        assert mock.requests == []
    assert "is not a directory" in capsys.readouterr().err


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_live_view_shows_progress_on_a_terminal() -> None:
    err = FakeTerminal()
    target = Target("loop", "m")
    record = RequestRecord(
        index=0,
        start_ms=0.0,
        ttfb_ms=1.0,
        ttft_ms=42.0,
        itl_ms=[],
        e2e_ms=50.0,
        output_tokens=1,
        tokens_from="usage",
        attempts=1,
    )
    with LiveProgress(err) as progress:
        progress.target_started(target, Settings(requests=1))
        progress.request_done(target, record)
        summary = summarize([record], 0.05)
        result = TargetResult(
            target="loop:m", provider="loop", model="m", summary=summary, requests=[record]
        )
        progress.target_done(target, result)
    shown = err.getvalue()
    assert "loop:m" in shown
    assert "1/1" in shown
    assert "TTFT p50 42 ms" in shown


def test_the_live_view_of_an_open_loop_shows_rates_in_flight_and_slot_waits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "240")  # the whole status line, as a wide terminal shows it
    err = FakeTerminal()
    target = Target("loop", "m")
    record = RequestRecord(
        index=0,
        start_ms=0.0,
        ttfb_ms=1.0,
        ttft_ms=42.0,
        itl_ms=[],
        e2e_ms=50.0,
        output_tokens=1,
        tokens_from="usage",
        attempts=1,
        scheduled_ms=0.0,
        lag_ms=30.0,
        queue_ms=30.0,
    )
    with LiveProgress(err) as progress:
        progress.target_started(target, Settings(requests=3, rate=20.0, max_concurrency=1))
        for _ in range(3):
            progress.request_sent(target)
        progress.request_done(target, record)
        result = TargetResult(
            target="loop:m",
            provider="loop",
            model="m",
            summary=summarize([record], 0.05),
            requests=[record],
        )
        progress.target_done(target, result)
    shown = err.getvalue()
    assert "offered 20/s" in shown
    assert "in flight 2" in shown
    assert "slot wait p50 30 ms" in shown


def test_a_terminated_run_stops_its_mock_process_like_ctrl_c(home: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-m", "modelwire", "bench", "--requests", "50"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as bench:
        try:
            assert bench.stderr is not None
            first = bench.stderr.readline()
            pid = mock_pid(first)
            bench.send_signal(signal.SIGTERM)
            # Interrupted as by Ctrl-C: exit status 130, or (when the signal lands while the
            # interpreter is still importing the event loop) the interpreter's own exit by SIGINT.
            assert bench.wait(timeout=30) in (130, -signal.SIGINT)
        finally:
            if bench.poll() is None:
                bench.kill()
                bench.wait(timeout=10)
    for _ in range(100):
        if gone(pid):
            break
        time.sleep(0.05)
    assert gone(pid)


def test_an_interrupted_run_prints_and_writes_what_it_measured_marked_interrupted(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    ended = []
    shown = LiveProgress.request_done

    def terminate_after_three(self: LiveProgress, target: Target, record: RequestRecord) -> None:
        shown(self, target, record)
        ended.append(record)
        if len(ended) == 3:
            signal.raise_signal(signal.SIGTERM)  # `kill`: handled as Ctrl-C is

    monkeypatch.setattr(LiveProgress, "request_done", terminate_after_three)
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(output_tokens=3)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--requests", "200", "--warmup", "0"]
        assert main([*argv, "--json", str(out)]) == 130
    captured = capsys.readouterr()
    assert "modelwire bench: INTERRUPTED" in captured.out
    assert "loop:mock-model" in captured.out
    assert f"wrote {out}" in captured.err
    result = read_result(out)
    assert result.interrupted is True
    (target,) = result.targets
    assert 3 <= target.summary.requests < 200
    assert target.summary.ok == target.summary.requests
    assert target.summary.ttft_ms is not None


@pytest.mark.usefixtures("no_mock_in_process")
def test_http_and_websocket_against_the_mock_are_two_targets_of_one_provider_compared(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    args = ["bench", "--transport", "http,websocket", "--requests", "3", "--max-tokens", "3"]
    assert main([*args, "--warmup", "1", "--json", str(out)]) == 0
    captured = capsys.readouterr()
    assert gone(mock_pid(captured.err))
    assert "its responses wire over http, websocket" in captured.err
    header = next(line for line in captured.out.splitlines() if "@http" in line)
    assert "modelwire-mock:mock-model@websocket" in header
    transport_row = next(line for line in captured.out.splitlines() if line.startswith("transport"))
    assert transport_row.split()[1:] == ["http", "websocket"]
    assert "client CPU ms/request" in captured.out
    line = next(line for line in captured.out.splitlines() if "transports compared" in line)
    assert line.startswith("transports compared, modelwire-mock:mock-model: websocket / http ")
    assert "TTFT p50 " in line
    assert "client CPU per request " in line
    result = read_result(out)
    http, socket = result.targets
    assert (http.provider, socket.provider) == ("modelwire-mock", "modelwire-mock")
    assert (http.transport, socket.transport) == ("http", "websocket")
    assert http.summary.transports == {"http": 3}
    assert socket.summary.transports == {"websocket": 3}
    assert all(record.output_tokens == 3 for record in http.requests + socket.requests)
    assert http.summary.cpu_ms_per_request is not None
    assert socket.summary.cpu_ms_per_request is not None
    (comparison,) = result.comparisons
    assert (comparison.http_target, comparison.websocket_target) == (http.target, socket.target)
    assert comparison.ttft_p50_ratio is not None
    assert result.client_overhead is not None  # a mock run measures it, whatever the transports


def test_each_configured_target_is_benchmarked_once_per_transport(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "sock:m", "--transport", "http,websocket"]
        assert main([*argv, "--requests", "2"]) == 0
        methods = [request["method"] for request in mock.requests]
        assert mock.state.sockets_opened == 1
    assert methods == ["POST"] * 3 + ["GET"] + ["WS"] * 3  # 1 warm-up + 2 each
    out = capsys.readouterr().out
    assert "sock:m@http" in out
    assert "sock:m@websocket" in out
    assert "transports compared, sock:m: websocket / http" in out


def test_transport_websocket_on_a_provider_without_sockets_is_a_one_line_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider() as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--transport", "http,websocket"]
        assert main([*argv, "--requests", "1"]) == 2
        assert mock.requests == []
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("modelwire: error: --transport websocket: loop does not stream over ")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("http,pigeon", "'pigeon' is not one of auto, http, websocket"),
        ("http,http", "a transport is given twice"),
        ("", "'' is not one of"),
    ],
)
def test_a_bad_transport_list_is_a_one_line_usage_error_before_anything_starts(
    value: str, message: str, home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", "--transport", value, "--requests", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err
    assert "child process" not in err


def test_an_open_loop_run_reports_its_schedule_lag_and_latency_from_the_schedule(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--requests", "8", "--rate", "40"]
        extra = ["--arrival", "gamma", "--burstiness", "2", "--seed", "5", "--max-concurrency", "4"]
        assert main([*argv, *extra, "--json", str(out)]) == 0
    captured = capsys.readouterr().out
    assert "open loop 40 req/s gamma (burstiness 2), seed 5, at most 4 in flight" in captured
    for row in ("offered / achieved req/s", "send lag ms", "slot wait ms", "E2E from schedule"):
        assert row in captured
    result = read_result(out)
    assert result.settings.rate == 40.0
    assert result.settings.max_concurrency == 4
    records = result.targets[0].requests
    assert len(records) == 8
    assert all(r.scheduled_ms is not None and r.queue_ms is not None for r in records)


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--arrival", "gamma"], "shape an open loop: give --rate or --trace"),
        (["--rate", "5", "--requests", "3", "--concurrency", "2"], "--max-concurrency"),
        (["--rate", "5", "--requests", "3", "--burstiness", "2"], "add --arrival gamma"),
        (["--rate", "5", "--requests", "3", "--ramp-to", "9"], "give --rate and --duration"),
        (["--rate", "5"], "needs --requests or --duration"),
        (["--rate", "5", "--trace", "t.jsonl", "--requests", "3"], "not allowed with"),
    ],
)
def test_open_loop_flags_that_mean_nothing_are_usage_errors(
    home: Path, argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        code = main(["bench", *argv])
    except SystemExit as exited:  # argparse's own refusals
        code = int(exited.code or 0)
    assert code == 2
    assert why in capsys.readouterr().err


def test_an_slo_adds_goodput_to_the_table_and_a_bad_one_is_a_usage_error(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--requests", "3", "--slo", "ttft=5s,e2e=9s"]
        assert main(argv) == 0
    out = capsys.readouterr().out
    assert "SLO ttft≤5000ms, e2e≤9000ms at p99" in out
    assert "met, 3 / 3 requests" in out
    assert "goodput req/s / tok/s" in out
    assert main(["bench", "--slo", "latency=fast"]) == 2
    assert "--slo 'latency=fast': " in capsys.readouterr().err


def test_a_sweep_prints_its_steps_and_the_best_rate(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--requests", "4", "--warmup", "0"]
        assert main([*argv, "--sweep", "20,10", "--slo", "e2e=5s"]) == 0
    out = capsys.readouterr().out
    assert "sweep loop:mock-model: highest rate within the SLO 20/s" in out
    assert "loop:mock-model@10/s" in out
    assert "loop:mock-model@20/s" in out


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--sweep", "auto"], "needs --requests or --duration"),
        (["--sweep", "5,x", "--requests", "3"], "'x' is not a rate"),
        (["--sweep", "5", "--rate", "3", "--requests", "3"], "leave out --rate"),
        (["--sweep", "5,6", "--sweep-steps", "3", "--requests", "3"], "for --sweep auto"),
        (["--sweep-steps", "3"], "for --sweep auto"),
        (["--sweep", "auto", "--sweep-steps", "1", "--requests", "3"], "at least 2 steps"),
    ],
)
def test_sweep_flags_that_mean_nothing_are_usage_errors(
    home: Path, argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    assert why in capsys.readouterr().err


def test_workers_share_an_open_loop_and_write_records(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = tmp_path / "records.jsonl"
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--requests", "10", "--rate", "50"]
        assert main([*argv, "--workers", "2", "--records", str(records)]) == 0
    lines = records.read_text().splitlines()
    assert len(lines) == 10
    assert all('"target":"loop:mock-model"' in line for line in lines)
    assert "generator" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["--workers", "2", "--requests", "3"], "give --rate or --trace"),
        (["--workers", "2", "--sweep", "5", "--requests", "3"], "a --sweep runs in this process"),
    ],
)
def test_workers_without_an_open_loop_are_usage_errors(
    home: Path, argv: list[str], why: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["bench", *argv]) == 2
    assert why in capsys.readouterr().err


def _children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The fields after the command's closing parenthesis: state, then the parent's pid.
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("how", ["SIGTERM to the command", "Ctrl-C to its process group"])
def test_an_interrupted_workers_run_writes_what_its_workers_measured_and_reaps_them(
    home: Path, tmp_path: Path, how: str
) -> None:
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(output_tokens=3)) as mock:
        configure(home, mock.base_url)
        argv = ["bench", "--provider", "loop", "--rate", "20", "--duration", "60"]
        argv += ["--workers", "2", "--warmup", "0", "--json", str(out)]
        with subprocess.Popen(
            [sys.executable, "-m", "modelwire", *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
            env={**os.environ, "MODELWIRE_HOME": str(home)},
        ) as bench:
            try:
                for _ in range(600):  # until the workers have been sending for a while
                    if len(mock.requests) >= 10 or bench.poll() is not None:
                        break
                    time.sleep(0.05)
                assert len(mock.requests) >= 10, "the workers never got going"
                workers = _children(bench.pid)
                assert len(workers) >= 2
                if how.startswith("SIGTERM"):
                    bench.send_signal(signal.SIGTERM)
                else:
                    os.killpg(bench.pid, signal.SIGINT)
                stdout, stderr = bench.communicate(timeout=60)
            finally:
                if bench.poll() is None:
                    bench.kill()
                    bench.wait(timeout=10)
        sent = len(mock.requests)
    assert bench.returncode == 130, stderr
    assert "modelwire bench: INTERRUPTED" in stdout
    # multiprocessing's resource tracker ends once it sees its parent's pipe close.
    for _ in range(100):
        if all(gone(pid) for pid in workers):
            break
        time.sleep(0.05)
    left = {pid: Path(f"/proc/{pid}/cmdline").read_bytes() for pid in workers if not gone(pid)}
    assert left == {}
    result = read_result(out)
    assert result.interrupted is True
    (target,) = result.targets
    assert target.interrupted is True
    assert target.generator.workers == 2
    # Both workers' tallies came back: what they had measured, not nothing.
    assert 10 <= target.summary.requests <= sent
    assert target.summary.ok == target.summary.requests
    assert target.summary.ttft_ms is not None
    assert target.schedule is not None
    assert target.schedule.requests is not None
    assert target.summary.requests < target.schedule.requests


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--ray", "auto"], "--ray share an open loop's schedule"),
        (["--ray", "auto", "--sweep", "5,10"], "--ray runs one open loop"),
        (["--ray", " ", "--rate", "5"], "--ray: give auto or the cluster's address"),
    ],
)
def test_ray_options_that_mean_nothing_are_usage_errors(
    home: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with MockProvider() as mock:
        configure(home, mock.base_url)
        assert main(["bench", "--provider", "loop", "--requests", "2", *extra]) == 2
    assert message in capsys.readouterr().err


def test_a_bench_runs_on_uvloop_when_it_is_installed(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("uvloop", reason="uvloop is not installed (pip install 'modelwire[fast]')")
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        args = ["bench", "--provider", "loop", "--rate", "20", "--requests", "4", "--warmup", "0"]
        assert main([*args, "--json", str(out)]) == 0
    result = read_result(out)
    assert result.environment.event_loop == "asyncio+uvloop"
    assert result.targets[0].generator.event_loop == "asyncio+uvloop"
    assert "uvloop" in result.environment.versions


def test_ray_auto_runs_the_workers_as_actors_of_a_local_instance(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ray = pytest.importorskip(
        "ray", reason="Ray cannot be installed on this platform (pip install 'modelwire[ray]')"
    )
    out = tmp_path / "run.json"
    with MockProvider(behavior=MockBehavior(output_tokens=2)) as mock:
        configure(home, mock.base_url)
        args = ["bench", "--provider", "loop", "--rate", "20", "--requests", "8", "--warmup", "0"]
        assert main([*args, "--ray", "auto", "--workers", "2", "--json", str(out)]) == 0
    assert not ray.is_initialized()  # the instance the run started is gone with it
    (target,) = read_result(out).targets
    assert target.generator.backend == "ray"
    assert target.generator.workers == 2
    assert target.summary.requests == target.summary.ok == 8
    assert "2 Ray actors" in capsys.readouterr().out


def _ended(pid: int) -> bool:
    """Gone, or a zombie nobody has reaped yet (its parent died: it no longer runs)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return gone(pid)
    return state == "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc")
def test_a_benchmark_killed_outright_does_not_leave_its_mock_running() -> None:
    script = (
        "import sys, time\n"
        "from modelwire.bench._target import MockProcess\n"
        "mock = MockProcess()\n"
        "mock.start()\n"
        "print(mock.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            child = int(parent.stdout.readline())
            assert not _ended(child)
            parent.kill()  # SIGKILL: no handler, no finally, nothing of the parent's runs
            parent.wait(timeout=10)
        finally:
            if parent.poll() is None:
                parent.kill()
    for _ in range(200):
        if _ended(child):
            break
        time.sleep(0.05)
    assert _ended(child)
