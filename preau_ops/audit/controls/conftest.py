"""The audit suite: read-only controls of live servers against the declared state.

Run by `deploy.py audit` (see preau_ops/audit/run.py), which passes its options through the
environment. Each test is a control, marked with

    @pytest.mark.control("SSH-01", "title", "requirement", groups=("all",))

and parametrized over the inventory's hosts of those groups (`host` argument) — or run once
for the platform when it takes no `host`. A control records its evidence with the `evidence`
fixture; the results (status, evidence, failure message) are collected on the controller and
written as JSON for the reports. The bookkeeping itself is preau_ops/audit/catalogue.py.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import pytest

from preau_ops import inventory
from preau_ops.audit import catalogue
from preau_ops.audit.declared import in_groups
from preau_ops.audit.remote import Remote, RemoteOf
from preau_ops.inventory import Host, Inventory

INVENTORY = pytest.StashKey[Inventory]()
STARTED = pytest.StashKey[float]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control(id, title, requirement, groups): audit control")
    config.stash[INVENTORY] = inventory.load(os.environ.get("PREAU_AUDIT_INVENTORY"))
    config.stash[STARTED] = time.time()


def _options() -> catalogue.Options:
    return catalogue.options(os.environ)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "host" not in metafunc.fixturenames:
        return
    control = catalogue.of(metafunc.definition)
    assert control is not None, f"{metafunc.definition.name} takes a host but is no control"
    hosts = [
        h
        for h in metafunc.config.stash[INVENTORY].limited(_options()["limit"])
        if in_groups(h, control.groups)
    ]
    metafunc.parametrize("host", hosts, ids=[h.name for h in hosts])


def _host_of(item: pytest.Item) -> Host | None:
    callspec = getattr(item, "callspec", None)
    host = callspec.params.get("host") if callspec is not None else None
    return host if isinstance(host, Host) else None


def _of_no_host(item: pytest.Item) -> bool:
    """A control none of whose hosts this run checks (--limit elsewhere): pytest made it one
    item of an empty parameter set, which is no result (its host was NOTSET, named 'token')."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and "host" in callspec.params and _host_of(item) is None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wanted = [w.upper() for w in _options()["controls"]]
    skipped = [s.upper() for s in _options()["skip"]]
    keep, drop = [], []
    for item in items:
        control = catalogue.of(item)
        if (
            control is None
            or not catalogue.selected(control.id, wanted, skipped)
            or _of_no_host(item)
        ):
            drop.append(item)
            continue
        host = _host_of(item)
        # one xdist worker per host keeps its SSH connection; platform controls spread out
        item.add_marker(pytest.mark.xdist_group(host.name if host else control.id))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="session")
def inv(request: pytest.FixtureRequest) -> Inventory:
    return request.config.stash[INVENTORY]


@pytest.fixture(scope="session")
def options() -> catalogue.Options:
    return _options()


_REMOTES: dict[str, Remote] = {}  # one connection per host and worker


@pytest.fixture
def remote_of(
    options: catalogue.Options, inv: Inventory, request: pytest.FixtureRequest
) -> RemoteOf:
    """remote_of(host): a host over SSH as the admin (or the auditor with --as-auditor); the
    commands run through it are this control's evidence."""

    def get(host: Host) -> Remote:
        if host.name not in _REMOTES:
            _REMOTES[host.name] = Remote(
                host,
                as_auditor=options["as_auditor"],
                control_dir=options["control_dir"],
                inv=inv,
            )
        _REMOTES[host.name].evidence = catalogue.Evidence(request.node)
        return _REMOTES[host.name]

    return get


@pytest.fixture
def remote(host: Host, remote_of: RemoteOf) -> Remote:
    """The host under control, read-only."""
    return remote_of(host)


@pytest.fixture
def evidence(request: pytest.FixtureRequest) -> catalogue.Evidence:
    return catalogue.Evidence(request.node)


# ------------------------------------------------------------------ results (controller)

RESULTS: list[dict[str, Any]] = []  # filled on the controller (xdist forwards the workers' reports)


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> None:
    if call.when == "setup":
        control = catalogue.of(item)
        if control:
            host = _host_of(item)
            item.user_properties[:0] = catalogue.properties(control, host.name if host else None)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    result = catalogue.record(report)
    if result is not None:
        RESULTS.append(result)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput"):
        return
    path = os.environ.get("PREAU_AUDIT_RESULTS")
    if path:
        duration = round(time.time() - session.config.stash[STARTED], 1)
        with open(path, "w") as out:
            json.dump({"results": RESULTS, "duration": duration}, out, indent=1, ensure_ascii=False)
