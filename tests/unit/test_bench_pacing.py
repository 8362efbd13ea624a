"""load_mix.lua's pacing, run by the real wrk against a local server on loopback: paced, it
offers the rate asked whatever the answers (a fast 503 waits its turn); unpaced (lb_mix), it is
the closed loop it always was."""

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from preau_ops.bench import load

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")

SECONDS, RATE = 2, 50


class WaitingPage(BaseHTTPRequestHandler):
    """The lb's waiting page: 503 at once, kept alive."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        body = b"tres sollicite"
        self.send_response(503)
        self.send_header("Retry-After", "30")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # the mix's logins
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), WaitingPage)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def run_mix(url, tmp_path, pace_ms, connections=20):
    sessions = tmp_path / "sessions.tsv"
    sessions.write_text("cookie0\tuser0\t/e/0825000A/\n")
    command = [
        "wrk",
        f"-t{load.MIX_THREADS}",
        f"-c{connections}",
        f"-d{SECONDS}s",
        "-H",
        "Host: ent.preau.test",
        "-s",
        str(load.LOAD_MIX),
        url,
        "--",
        str(sessions),
    ]
    output = subprocess.run(
        command, capture_output=True, text=True, timeout=30, env=load._mix_env(pace_ms), check=False
    )
    result = load._mix_output(output.stdout)
    assert result is not None, output.stderr or output.stdout
    load._check_pace(result, pace_ms)
    return result


def test_paced_waiting_pages_come_at_the_offered_rate_not_at_once(server, tmp_path):
    result = run_mix(server, tmp_path, load._pace_ms(RATE))
    assert result["statuses"] == {"503": result["requests"]}
    # 100 expected; never more than the pace allows over the run's real length (wrk's -d2s ran
    # 2.1 s and more on a loaded machine: 106 requests, a CI run beside the lab) + the first
    # start time of each thread
    allowed = RATE * max(SECONDS, result["duration_s"]) + load.MIX_THREADS + 2
    assert 0.7 * RATE * SECONDS <= result["requests"] <= allowed, result


def test_unpaced_is_a_closed_loop(server, tmp_path):
    result = run_mix(server, tmp_path, None)
    assert result["pace_ms"] == 0
    assert result["requests"] > 3 * RATE * SECONDS


def test_a_mix_stopped_early_still_gives_its_result(server, tmp_path):
    """load.under_mix stops wrk with SIGINT when the drill ends: wrk must still print the
    mix's result line (counted requests, statuses), or the drill's failed requests are lost."""
    import signal
    import time

    sessions = tmp_path / "sessions.tsv"
    sessions.write_text("cookie0\tuser0\t/e/0825000A/\n")
    command = ["wrk", "-t1", "-c2", "-d60s", "-s", str(load.LOAD_MIX), server, "--", str(sessions)]
    wrk = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=load._mix_env(20)
    )
    time.sleep(1.5)
    wrk.send_signal(signal.SIGINT)
    out, err = wrk.communicate(timeout=20)
    result = load._mix_output(out)
    assert result is not None, err or out
    assert result["requests"] > 0 and result["duration_s"] < 30
    assert load.failed_requests(result) == result["requests"]  # every answer here is a 503


def test_failed_requests_are_socket_errors_and_statuses_from_400_but_429():
    result = {
        "statuses": {"200": 90, "302": 5, "429": 3, "404": 1, "503": 2},
        "errors": {"connect": 1, "read": 0, "status": 6},
    }
    assert load.failed_requests(result) == 4
    assert load.failures_text(result) == "status 404 1, status 503 2, connect 1"
    assert load.failures_text({"statuses": {"200": 9}, "errors": {"timeout": 0}}) == "none"


def test_a_drill_says_the_requests_a_reload_of_the_lb_closed_apart(monkeypatch):
    """wrk's read/write errors (a kept-alive connection nginx's graceful reload closed: the
    request got no answer and reached no app) are not failed answers; statuses and timeouts
    are."""
    import subprocess
    import types

    from preau_ops.bench import drills

    result = {
        "requests": 4000,
        "statuses": {"200": 3960, "302": 8, "429": 2},
        "errors": {"connect": 0, "read": 28, "write": 2, "timeout": 0, "status": 2},
    }
    done = subprocess.CompletedProcess([], 0, "", "")
    monkeypatch.setattr(drills.load, "under_mix", lambda bench, command: (31.24, result, done))
    bench = types.SimpleNamespace(results={})
    said = drills._drill_value(bench, "drill", ["deploy.py", "x", "release"])
    assert said.startswith("31.2 s, 0 failed of 4000 requests; 30 sent on kept-alive")
    assert bench.results["drill"]["failed"] == 0 and bench.results["drill"]["closed"] == 30
    result["statuses"]["502"] = 3
    result["errors"]["timeout"] = 1
    said = drills._drill_value(bench, "drill", ["deploy.py", "x", "release"])
    assert said.startswith("31.2 s, 4 failed of 4000 requests (status 502 3, timeout 1); 30 sent")
