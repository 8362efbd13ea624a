"""gunicorn with the app's configuration (preau.gunicorn_conf), as the systemd unit starts it."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

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


def test_workers_start_with_the_preloaded_objects_frozen_and_fewer_collections(tmp_path):
    (tmp_path / "gcprobe.py").write_text(PROBE)
    port = free_port()
    src = str(Path(preau.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, str(tmp_path)])}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:preau.gunicorn_conf",
            "--workers",
            "1",
            "--bind",
            f"127.0.0.1:{port}",
            "gcprobe:application",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
                    state = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise AssertionError(
                        f"gunicorn did not answer: {server.stderr.read1().decode()}"
                    ) from None
                time.sleep(0.2)
    finally:
        server.terminate()
        server.wait(10)
    assert state["frozen"] >= 5000
    assert state["threshold"] == [7000, 10, 10]
