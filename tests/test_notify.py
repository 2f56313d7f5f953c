"""`planspec notify` against real HTTP servers on 127.0.0.1: payloads of each target, dedup through
the state file across runs, escalation, resolution, retries with backoff, timeouts, and a failing
target that neither stops the others nor enters the state."""

from __future__ import annotations

import datetime
import http.server
import io
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from planspec.cli import main
from planspec.notify import State, Target, notify, parse_target
from planspec.results import Results

from .resultskit import check, results

NOW = datetime.datetime(2026, 1, 20, tzinfo=datetime.UTC)


@dataclass
class Server:
    """A loopback HTTP server that records each POST and answers with the next queued status
    (200 once the queue is empty); a status of 0 means "never answer" (sleep past timeouts)."""

    url: str
    received: list[tuple[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    def bodies(self) -> list[Any]:
        return [b for _, b in self.received]


@pytest.fixture
def server() -> Iterator[Server]:
    srv_state = Server("")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status = srv_state.statuses.pop(0) if srv_state.statuses else 200
            if status == 0:
                srv_state.release.wait(5)
                return
            srv_state.received.append((self.path, body))
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    srv_state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield srv_state
    srv_state.release.set()
    httpd.shutdown()
    httpd.server_close()


def run(res: Results, targets: list[Target], state: State, **kw: Any) -> list[Any]:
    kw.setdefault("backoff", 0.01)
    return notify(res, targets, state, now=NOW, timeout=kw.pop("timeout", 2.0), **kw)


FIRING = [(0.0, "ok", None), (0.3, "fail", "fail"), (0.3, "fail", "fail")]


def test_each_episode_once_across_runs_then_resolved(server: Server, tmp_path: Path) -> None:
    state_file = tmp_path / "state.json"
    src = tmp_path / "results.json"
    target = f"webhook:{server.url}/hook"

    def cli(res: Results) -> tuple[int, str]:
        src.write_text(res.model_dump_json())
        out = io.StringIO()
        return main(["notify", str(src), "--to", target, "--state", str(state_file),
                     "--backoff", "0.01"], out), out.getvalue()

    quiet = check("quiet", [(0.0, "ok", None)] * 3)
    first = results(check("drift", FIRING), quiet)
    assert cli(first)[0] == 0
    assert [(b["alert"], b["status"], b["reason"]) for b in server.bodies()] == [
        ("drift", "firing", "new")]
    # The next run, still firing (one more window): nothing is sent.
    still = results(check("drift", [*FIRING, (0.4, "fail", "fail")]), quiet)
    code, text = cli(still)
    assert code == 0 and "nothing new" in text and len(server.received) == 1
    # The run after it clears: a resolution, with the episode's end.
    cleared = results(check("drift", [*FIRING, (0.4, "fail", "fail"), (0.0, "ok", None)]),
                      quiet)
    assert cli(cleared)[0] == 0
    resolved = server.bodies()[-1]
    assert (resolved["status"], resolved["episode"]) == ("resolved",
                                                         "drift@2026-01-06T00:00:00Z")
    assert resolved["ends"] == "2026-01-09T00:00:00Z"
    # And then nothing more, and the state is empty again.
    assert cli(cleared)[0] == 0 and len(server.received) == 2
    assert json.loads(state_file.read_text()) == {"version": 1, "episodes": {}}


def test_escalation_is_sent_again(server: Server) -> None:
    target, state = parse_target(f"webhook:{server.url}"), State()
    warn = [(0.0, "ok", None), (0.2, "warn", "warn")]
    run(results(check("d", warn)), [target], state)
    run(results(check("d", [*warn, (0.2, "warn", "warn")])), [target], state)
    run(results(check("d", [*warn, (0.3, "fail", "fail")])), [target], state)
    run(results(check("d", [*warn, (0.3, "fail", "fail"), (0.2, "warn", "warn")])),
        [target], state)  # back to warn: no news
    assert [(b["level"], b["reason"]) for b in server.bodies()] == [
        ("warn", "new"), ("fail", "escalated")]


def test_webhook_payload(server: Server) -> None:
    res = results(check("drift", FIRING, when="psi(x) > 0.25", warn="psi(x) > 0.1"))
    run(res, [parse_target(f"webhook:{server.url}/h")], State(),
        runbook_url="https://runbooks.example/t.md#{check}")
    path, body = server.received[0]
    assert path == "/h"
    assert body["version"] == 1 and body["plan"] == "t" and body["level"] == "fail"
    assert body["value"] == 0.3 and body["threshold"] == "fail > 0.25"
    assert body["since"] == "2026-01-06T00:00:00Z" and body["ends"] is None
    assert body["window"] == "2026-01-07T00:00:00Z to 2026-01-08T00:00:00Z"
    assert body["playbook"]["owner"] == "model on-call"
    assert body["runbook_url"] == "https://runbooks.example/t.md#drift"


def test_slack_message(server: Server) -> None:
    res = results(check("drift<&>", FIRING))
    run(res, [parse_target(f"slack:{server.url}/services/T/B/X")], State())
    body = server.bodies()[0]
    text = body["text"]
    assert "drift&lt;&amp;&gt;" in text and "<&>" not in text  # Slack's own escaping
    assert "Value 0.3 in 2026-01-07 to 2026-01-08; fail &gt; 0.25" in text
    assert "owner model on-call" in text
    assert "1. Rule out the pipeline" in text and "2. Decide real-world vs artefact" in text
    assert body["blocks"][0]["text"] == {"type": "mrkdwn", "text": text}


def test_alertmanager_v2_alerts(server: Server) -> None:
    target, state = parse_target(f"alertmanager:{server.url}/"), State()
    res = results(check("drift", FIRING))
    run(res, [target], state, runbook_url="https://rb.example/#{check}")
    path, body = server.received[0]
    assert path == "/api/v2/alerts" and isinstance(body, list) and len(body) == 1
    alert = body[0]
    assert set(alert) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert alert["labels"] == {"alertname": "drift", "severity": "high", "plan": "t",
                               "check": "drift", "kind": "input"}
    assert alert["annotations"]["runbook_url"] == "https://rb.example/#drift"
    assert {"summary", "description"} <= set(alert["annotations"])
    assert alert["startsAt"] == "2026-01-06T00:00:00Z"
    assert alert["endsAt"] > NOW.isoformat()[:19]  # still firing: ends in the future
    # Resolved: the same labels, endsAt at the episode's end.
    run(results(check("drift", [*FIRING, (0.0, "ok", None)])), [target], state)
    gone = server.bodies()[-1][0]
    assert gone["labels"] == alert["labels"] and gone["endsAt"] == "2026-01-08T00:00:00Z"


def test_segments_delivered_worst_first_then_one_resolves(server: Server) -> None:
    """A segmented alert's firing segments reach the server worst first, each naming its
    segment, its rank and how many segments were tested; when one stops firing, only its
    resolution is sent, saying how many still fire."""
    from .test_segments_output import expected_order, segmented_results

    res = segmented_results()
    order = expected_order(res)
    target, state = parse_target(f"webhook:{server.url}/h"), State()
    run(res, [target], state)
    bodies = server.bodies()
    assert [b["alert"] for b in bodies] == [f"low[c={k}]" for k in order]
    assert [b["segments"]["rank"] for b in bodies] == list(range(1, len(order) + 1))
    assert all(b["segments"]["tested"] == 8 and b["segments"]["firing"] == order
               for b in bodies)
    worst = f"low[c={order[0]}]"
    calmer = res.model_copy(update={"firing": [f for f in res.firing if f.id != worst]})
    run(calmer, [target], state)
    gone = server.bodies()[len(order):]
    assert [(b["alert"], b["status"]) for b in gone] == [(worst, "resolved")]
    assert gone[0]["segments"] == {"tested": 8, "firing": order[1:], "rank": None}


def test_retries_with_backoff_then_success(server: Server) -> None:
    server.statuses[:] = [503, 500]
    slept: list[float] = []
    out = run(results(check("d", FIRING)), [parse_target(f"webhook:{server.url}")], State(),
              backoff=0.5, sleep=slept.append)
    assert [d.error for d in out] == [None]
    assert slept == [0.5, 1.0] and len(server.received) == 3  # failed twice, then took it


def test_client_errors_are_not_retried(server: Server) -> None:
    server.statuses[:] = [400]
    state = State()
    out = run(results(check("d", FIRING)), [parse_target(f"webhook:{server.url}")], state)
    assert out[0].error is not None and "HTTP 400" in out[0].error
    assert state.episodes == {}


def test_timeout_is_reported_and_others_still_delivered(server: Server, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    server.statuses[:] = [0, 0]  # the first target's two tries hang
    src = tmp_path / "r.json"
    src.write_text(results(check("d", FIRING)).model_dump_json())
    state_file = tmp_path / "state.json"
    code = main(["notify", str(src), "--to", f"webhook:{server.url}/a",
                 f"slack:{server.url}/b", "--state", str(state_file), "--timeout", "0.3",
                 "--retries", "1", "--backoff", "0.01"], io.StringIO())
    err = capsys.readouterr().err
    assert code == 2 and f"webhook:{server.url}/a" in err and "after 2 tries" in err
    assert [p for p, _ in server.received] == ["/b"]
    sent = json.loads(state_file.read_text())["episodes"]["d@2026-01-06T00:00:00Z"]
    assert list(sent) == [f"slack:{server.url}/b"]  # only what was delivered
    # The next run delivers to the target that failed, and only to it.
    server.received.clear()
    assert main(["notify", str(src), "--to", f"webhook:{server.url}/a",
                 f"slack:{server.url}/b", "--state", str(state_file), "--timeout", "2"],
                io.StringIO()) == 0
    assert [p for p, _ in server.received] == ["/a"]


def test_unreachable_target(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = run(results(check("d", FIRING)), [parse_target(f"webhook:http://127.0.0.1:{port}")],
              State(), retries=1, sleep=lambda _: None)
    assert out[0].error is not None and "after 2 tries" in out[0].error


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "pager:http://x"], "KIND:URL"),
    (["--to", "webhook:ftp://x"], "http://"),
    (["--to", "webhook:http://127.0.0.1:9", "--state", "{state}"], "state file"),
    (["--to", "webhook:http://127.0.0.1:9", "--state", "{state}/../nowhere/s.json"],
     "folder does not exist"),
    (["--to", "webhook:http://127.0.0.1:9", "--timeout", "0"], "--timeout"),
])
def test_bad_targets_and_state_are_usage_errors(tmp_path: Path, args: list[str], message: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "r.json"
    src.write_text(results(check("d", FIRING)).model_dump_json())
    bad_state = tmp_path / "state.json"
    bad_state.write_text('{"version": 9}')
    argv = ["notify", str(src), *[a.replace("{state}", str(bad_state)) for a in args]]
    assert main(argv, io.StringIO()) == 2
    assert message in capsys.readouterr().err
    assert bad_state.read_text() == '{"version": 9}'  # left as it was
