"""testinfra hosts by container name; the cluster as `patronictl list` sees it."""

import json
import subprocess
import time

import pytest
import testinfra

DBS = {"patroni-db1": "172.30.98.11", "patroni-db2": "172.30.98.12"}
CLIENT = "patroni-ops"
PATRONICTL = "patronictl -c /etc/patroni/config.yml"


def host(name):
    return testinfra.get_host(f"docker://{name}")


@pytest.fixture(scope="module")
def client():
    return host(CLIENT)


def members(on: str | None = None) -> list[dict]:
    """`patronictl list` as JSON, asked on a running db host (the first that answers)."""
    for name in [on] if on else DBS:
        result = host(name).run(f"{PATRONICTL} list -f json")
        if result.rc == 0:
            return json.loads(result.stdout)
    return []


def leader() -> str | None:
    found = [m["Member"] for m in members() if m["Role"] == "Leader" and m["State"] == "running"]
    return found[0] if found else None


def wait_for(check, timeout: float, what) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(what() if callable(what) else what)
        time.sleep(1)


def healthy() -> bool:
    """A running leader and a running synchronous standby, nothing behind."""
    found = members()
    return (
        len(found) == 2
        and {m["Role"] for m in found} == {"Leader", "Sync Standby"}
        and all(m["State"] in ("running", "streaming") for m in found)
        and all(m.get("Lag in MB", 0) in (0, "") for m in found)
    )


def docker(*args: str) -> None:
    subprocess.run(["docker", *args], check=True, capture_output=True, timeout=60)
