"""The audit suite: read-only controls of live servers against the declared state.

Run by `deploy.py audit` (see preau_ops/audit/run.py), which passes its options through the
environment. Each test is a control, marked with

    @pytest.mark.control("SSH-01", "title", "requirement", groups=("all",))

and parametrized over the inventory's hosts of those groups (`host` argument) — or run once
for the platform when it takes no `host`. A control records its evidence with the `evidence`
fixture; the results (status, evidence, failure message) are collected on the controller and
written as JSON for the reports.
"""
from __future__ import annotations

import json
import os
import time

import pytest

from preau_ops import inventory
from preau_ops.audit.remote import Remote


def pytest_configure(config):
    config.addinivalue_line("markers", "control(id, title, requirement, groups): audit control")
    config._preau_inv = inventory.load(os.environ.get("PREAU_AUDIT_INVENTORY"))


def _options() -> dict:
    return {"limit": os.environ.get("PREAU_AUDIT_LIMIT") or None,
            "controls": [c for c in os.environ.get("PREAU_AUDIT_CONTROLS", "").split(",") if c],
            "as_auditor": os.environ.get("PREAU_AUDIT_AS_AUDITOR") == "1",
            "control_dir": os.environ.get("PREAU_AUDIT_CONTROL_DIR") or None,
            "lynis_scan": os.environ.get("PREAU_AUDIT_LYNIS_SCAN") == "1"}


def _control(item_or_function):
    marker = item_or_function.get_closest_marker("control") if hasattr(
        item_or_function, "get_closest_marker") else None
    if marker is None:
        return None
    control_id, title, requirement = marker.args
    return {"id": control_id, "title": title, "requirement": requirement,
            "groups": tuple(marker.kwargs.get("groups", ("all",)))}


def pytest_generate_tests(metafunc):
    if "host" not in metafunc.fixturenames:
        return
    control = _control(metafunc.definition)
    inv = metafunc.config._preau_inv
    hosts = [h for h in inv.limited(_options()["limit"])
             if "all" in control["groups"] or set(control["groups"]) & set(h.groups)]
    metafunc.parametrize("host", hosts, ids=[h.name for h in hosts])


def _selected(control_id: str, wanted: list[str]) -> bool:
    """`--control SSH` selects SSH-01, SSH-02…; `--control SSH-01` that one only."""
    return not wanted or any(control_id == w or control_id.startswith(w.rstrip("-") + "-")
                             for w in wanted)


def pytest_collection_modifyitems(config, items):
    wanted = [w.upper() for w in _options()["controls"]]
    keep, drop = [], []
    for item in items:
        control = _control(item)
        if control is None or not _selected(control["id"], wanted):
            drop.append(item)
            continue
        host = item.callspec.params.get("host") if hasattr(item, "callspec") else None
        # one xdist worker per host keeps its SSH connection; platform controls spread out
        item.add_marker(pytest.mark.xdist_group(host.name if host else control["id"]))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ------------------------------------------------------------------------------ fixtures

@pytest.fixture(scope="session")
def inv(request):
    return request.config._preau_inv


@pytest.fixture(scope="session")
def options():
    return _options()


_REMOTES: dict[str, Remote] = {}  # one connection per host and worker


@pytest.fixture
def remote_of(options):
    """remote_of(host): a host over SSH as the admin (or the auditor with --as-auditor)."""
    def get(host):
        if host.name not in _REMOTES:
            _REMOTES[host.name] = Remote(host, as_auditor=options["as_auditor"],
                                               control_dir=options["control_dir"])
        return _REMOTES[host.name]
    return get


@pytest.fixture
def remote(host, remote_of):
    """The host under control, read-only."""
    return remote_of(host)


def _plain(text) -> str:
    """A plain str (inventory values are Ansible's tagged strings, which xdist cannot send)."""
    return str(text).encode().decode()


class Evidence:
    """What a control saw, kept in its result (strings, one per fact)."""

    def __init__(self, node):
        self._node = node

    def __call__(self, text: str) -> None:
        self._node.user_properties.append(("evidence", _plain(text)))


@pytest.fixture
def evidence(request):
    return Evidence(request.node)


# ------------------------------------------------------------------ results (controller)

RESULTS: list[dict] = []  # filled on the controller (xdist forwards the workers' reports)

def pytest_runtest_makereport(item, call):
    if call.when == "setup":
        control = _control(item)
        if control:
            host = item.callspec.params.get("host") if hasattr(item, "callspec") else None
            item.user_properties[:0] = [("control", control["id"]), ("title", control["title"]),
                                        ("requirement", control["requirement"]),
                                        ("host", _plain(host.name) if host else "platform")]


def _message(report) -> str:
    longrepr = report.longrepr
    if longrepr is None:
        return ""
    if isinstance(longrepr, tuple):  # skip: (file, line, reason)
        return str(longrepr[2]).removeprefix("Skipped: ")
    crash = getattr(longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(longrepr)
    text = text.removeprefix("AssertionError: ").removeprefix("Failed: ")
    return text.split("\nassert ")[0].strip()


def pytest_runtest_logreport(report):
    props = dict((k, v) for k, v in report.user_properties if k != "evidence")
    if "control" not in props:
        return
    evidence = [v for k, v in report.user_properties if k == "evidence"]
    status = None
    if report.when == "call":
        status = "passed" if report.passed else "skipped" if report.skipped else "failed"
    elif report.when == "setup" and not report.passed:
        status = "skipped" if report.skipped else "failed"
    elif report.when == "teardown" and report.failed:
        status = "failed"
    if status is None:
        return
    RESULTS.append({
        "control": props["control"], "title": props["title"],
        "requirement": props["requirement"], "host": props["host"], "status": status,
        "evidence": evidence, "message": _message(report) if status != "passed" else "",
        "duration": round(report.duration, 2)})


def pytest_sessionstart(session):
    session.config._preau_started = time.time()


def pytest_sessionfinish(session):
    if hasattr(session.config, "workerinput"):
        return
    path = os.environ.get("PREAU_AUDIT_RESULTS")
    if path:
        with open(path, "w") as out:
            json.dump({"results": RESULTS,
                       "duration": round(time.time() - session.config._preau_started, 1)},
                      out, indent=1, ensure_ascii=False)
