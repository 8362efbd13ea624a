"""`deploy.py down` stops the Docker engine the lab started only once nothing else uses it:
`deploy.py test` runs molecule beside the lab suite, whose last test takes the lab down."""

from __future__ import annotations

import select
import subprocess
import sys
import threading

import pytest

from preau_ops.lab import engine

HOLD = """
import fcntl, sys, time
lock = open(sys.argv[1], "a")
fcntl.flock(lock, fcntl.LOCK_SH)
print("held", flush=True)
time.sleep(float(sys.argv[2]))
print("releasing", flush=True)
"""


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    """A stand-in for the dockerd the lab started (a sleeping process, its PID file)."""
    monkeypatch.setattr(engine, "STATE_DIR", tmp_path)
    monkeypatch.setattr(engine, "PID_FILE", tmp_path / "dockerd.pid")
    monkeypatch.setattr(engine, "USERS_LOCK", tmp_path / "dockerd.users")
    process = subprocess.Popen(["sleep", "60"])
    # reaped as soon as it ends, as init reaps the real one (a zombie would look alive)
    threading.Thread(target=process.wait, daemon=True).start()
    engine.PID_FILE.write_text(str(process.pid))
    yield process
    process.kill()
    process.wait()


def test_stopping_waits_for_the_engine_users(daemon):
    user = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(engine.USERS_LOCK), "1"], stdout=subprocess.PIPE
    )
    try:
        assert user.stdout is not None and user.stdout.readline() == b"held\n"
        assert engine.stop_if_ours() is True
        # The kernel frees the lock as the user's files close, a moment before the process
        # can be reaped: its last word, written before, tells that it had let go.
        readable, _, _ = select.select([user.stdout], [], [], 0)
        assert readable, "the engine was stopped under a user still holding it"
        assert user.stdout.readline() == b"releasing\n"
        assert daemon.wait(5) is not None
        assert not engine.PID_FILE.exists()
    finally:
        user.kill()
        user.wait()


def test_stopping_with_no_user_is_immediate_and_only_ours(daemon):
    assert engine.stop_if_ours() is True
    assert daemon.wait(5) is not None
    assert engine.stop_if_ours() is False  # already stopped: nothing of ours is left


def test_in_use_holds_the_lock_shared(daemon):
    with engine.in_use(), engine.in_use():  # several users at once (two molecule runs)
        user = subprocess.run(
            [sys.executable, "-c", HOLD, str(engine.USERS_LOCK), "0"],
            capture_output=True,
            timeout=10,
            check=True,
        )
        assert user.stdout == b"held\nreleasing\n"
