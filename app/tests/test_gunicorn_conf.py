"""gunicorn with the app's configuration (preau.gunicorn_conf), as the systemd unit starts it."""

import concurrent.futures
import contextlib
import json
import os
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import preau

PROBE = """import gc, json
LOADED = [object() for _ in range(5000)]  # what a preloaded app keeps for the process's life
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"frozen": gc.get_freeze_count(), "threshold": gc.get_threshold()}).encode()]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def gunicorn(tmp_path, module, source, *args, scheme="http", context=None):
    """gunicorn with the app's configuration serving module:application (source), as the unit
    starts it; yields the URL once it answers."""
    (tmp_path / f"{module}.py").write_text(source)
    port = free_port()
    src = str(Path(preau.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(tmp_path)])}
    env["HOME"] = str(tmp_path)  # where gunicorn would put a control socket (.gunicorn/)
    env.pop("XDG_RUNTIME_DIR", None)
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "python:preau.gunicorn_conf"]
        + ["--bind", f"127.0.0.1:{port}", *args, f"{module}:application"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"{scheme}://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=2, context=context).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(
                        f"gunicorn did not answer: {server.stderr.read1().decode()}"
                    ) from None
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(10)


def test_workers_start_with_the_preloaded_objects_frozen_and_fewer_collections(tmp_path):
    with (
        gunicorn(tmp_path, "gcprobe", PROBE, "--workers", "1") as url,
        urllib.request.urlopen(url, timeout=2) as response,
    ):
        state = json.load(response)
        assert not (tmp_path / ".gunicorn").exists()  # no control socket: systemd controls
    assert state["frozen"] >= 5000
    assert state["threshold"] == [7000, 10, 10]


URLCONF_PROBE = """import json, sys
import preau.wsgi
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps({"urlconf": "preau.urls" in sys.modules}).encode()]
"""


def test_the_master_loads_the_urlconf_that_workers_then_share(tmp_path):
    """The views' modules are imported once by the master (when_ready), not by each worker at
    its first request: their memory is shared (scripts/measure_memory.py: ~27 MB a worker)."""
    with (
        gunicorn(tmp_path, "urlprobe", URLCONF_PROBE, "--workers", "1") as url,
        urllib.request.urlopen(url, timeout=2) as response,
    ):
        assert json.load(response) == {"urlconf": True}


SLOW_PID = """import os, time
def application(environ, start_response):
    time.sleep(0.3)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [str(os.getpid()).encode()]
"""


def tls_get(address, context, session=None):
    """(worker pid, session, resumed) of a GET / over a new TLS connection."""
    with (
        socket.create_connection(address, timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="app1", session=session) as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: app1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := tls.recv(4096):
            answer += chunk
        return answer.split(b"\r\n\r\n", 1)[1].decode(), tls.session, tls.session_reused


def _answers_on_one_connection(address, context) -> list[bool]:
    """Two GETs on one kept-alive TLS connection, as the lb's upstream keepalive sends them:
    for each, whether the connection stayed open after its answer."""
    import http.client

    class ToApp1(http.client.HTTPSConnection):
        def connect(self):  # to the address, verifying the certificate's name app1
            raw = socket.create_connection(address, timeout=5)
            self.sock = context.wrap_socket(raw, server_hostname="app1")

    connection = ToApp1("app1", address[1], context=context, timeout=5)
    kept = []
    try:
        for _ in range(2):
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            kept.append(connection.sock is not None and not response.will_close)
    finally:
        connection.close()
    return kept


def test_tls_sessions_resume_with_every_worker_and_plain_http_is_refused(tmp_path):
    """gunicorn serves TLS with the host certificate (as the unit starts it): the lb resumes
    its session with any worker (one context made in the master), and plain HTTP gets no page."""
    cert, key = tmp_path / "host.crt", tmp_path / "host.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        + ["-nodes", "-days", "2", "-subj", "/CN=app1", "-addext", "subjectAltName=DNS:app1"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(cafile=str(cert))
    context.check_hostname = False  # the readiness loop asks by address; tls_get by name
    args = ("--workers", "2", "--certfile", str(cert), "--keyfile", str(key))
    with gunicorn(tmp_path, "slowpid", SLOW_PID, *args, scheme="https", context=context) as url:
        address = ("127.0.0.1", int(url.rsplit(":", 1)[1].strip("/")))
        context.check_hostname = True
        _, session, _ = tls_get(address, context)
        answers: list = []
        # 0.3 s each, 4 at a time: both workers busy, usually in the first round; a gthread
        # worker may accept several connections while the other one waits for the CPU (a
        # loaded machine), so rounds go on until both have answered (at most 10)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            for _ in range(10):
                answers += pool.map(lambda _: tls_get(address, context, session), range(4))
                if len({pid for pid, _, _ in answers}) == 2:
                    break
        kept = _answers_on_one_connection(address, context)
        with pytest.raises(OSError):
            urllib.request.urlopen(url.replace("https:", "http:"), timeout=5).read()
    assert kept == [True, True], "the worker closed the lb's connection (sync workers do)"
    assert len({pid for pid, _, _ in answers}) == 2
    assert all(resumed for _, _, resumed in answers), "a worker did not resume the session"
