"""deploy.py bench's login rows (login_class, login_college, spray) and preau_ops.logins'
pacing and percentiles (no lab: the remote commands and the logins are replaced)."""

import time
from types import SimpleNamespace

from preau_ops import bench, logins
from preau_ops.bench import core, dataset
from preau_ops.bench import logins as login_rows
from preau_ops.logins import Attempt

from .test_bench import inventory


def test_login_rows_need_the_benchmark_data_set_and_come_after_the_loads():
    keys = [m.key for m in bench.select(bench.measures(inventory()), only=["spray", "login_class"])]
    assert keys == ["bench_data", "login_class", "spray"]
    order = [m.key for m in bench.measures(inventory())]
    assert (
        order.index("lb_overload")
        < order.index("login_class")
        < order.index("login_college")
        < order.index("spray")
        < order.index("status")
    )


def test_login_summary_counts_refusals_by_who_and_the_p95():
    attempts = [Attempt(302, 0.2)] * 18 + [
        Attempt(302, 0.9),
        Attempt(429, 0.01, 5, "lb"),
        Attempt(429, 0.02, 2, "app"),
        Attempt(0, 10.0),
    ]
    assert login_rows._login_summary(attempts, 60) == (
        "2 refused (lb 1, app 1) of 22 logins from one address in 60 s, 1 other failures, "
        "p95 0.90 s"
    )
    assert login_rows._login_summary([Attempt(302, 0.3)] * 30, 60).startswith(
        "0 refused (lb 0, app 0)"
    )


def test_spray_summary_is_password_checks_a_minute():
    attempts = (
        [Attempt(401, 0.05)] * 90
        + [Attempt(429, 0.01, 5, "lb")] * 400
        + [Attempt(429, 0.01, 16, "app"), Attempt(429, 0.01, 32, "app")]
    )
    summary = login_rows._spray_summary(attempts, 60, 53)
    assert summary.startswith("90 password checks a minute (90 in 60 s, 4 connections")
    assert (
        "of 492 attempts: 400 refused by the lb, 2 by the app (Retry-After up to 32 s)" in summary
    )
    assert "started with 53 free failures" in summary


def test_bench_pupils_are_read_from_the_first_benchmark_college(monkeypatch):
    commands = []
    monkeypatch.setattr(
        core,
        "remote",
        lambda inv, host, command: (
            commands.append((host.name, command)) or SimpleNamespace(stdout="a.b\nc.d\n\n")
        ),
    )
    assert dataset.bench_pupils(inventory(), 2) == ["a.b", "c.d"]
    host, command = commands[0]
    assert host == "db" and "-d preau" in command and "0825000P" in command  # seed_bench's first
    assert "ELV" in command and "limit 2" in command
    try:
        dataset.bench_pupils(inventory(), 3)
    except RuntimeError as error:
        assert "2 pupils" in str(error)
    else:
        raise AssertionError("too few pupils must fail")
    dataset.bench_pupils(inventory(), 2, colleges="all")  # the peak's: every benchmark collège
    assert (
        "uai like" in commands[-1][1]
        and "0825%" in commands[-1][1]
        and "limit 2" in commands[-1][1]
    )


def test_app_cpu_sums_the_app_hosts(monkeypatch):
    monkeypatch.setattr(core, "remote", lambda inv, host, command: SimpleNamespace(stdout="12.5\n"))
    assert login_rows._app_cpu(inventory()) == 12.5  # one app host in the test inventory


def test_arrivals_are_spread_over_the_time_given():
    starts = []
    started = time.monotonic()
    results = logins.arrivals(
        [("a", "p"), ("b", "p"), ("c", "p"), ("d", "p")],
        0.4,
        lambda user, password: starts.append(time.monotonic() - started) or user,
    )
    assert results == ["a", "b", "c", "d"]
    assert sorted(starts)[-1] >= 0.29 and sorted(starts)[0] < 0.1


def test_p95_is_nearest_rank():
    attempts = [Attempt(302, s / 100) for s in range(1, 101)]
    assert logins.p95(attempts) == 0.95
    assert logins.p95([Attempt(302, 0.5)]) == 0.5 and logins.p95([]) is None


def test_the_federated_rows_come_with_the_other_login_rows_on_the_data_set():
    keys = [m.key for m in bench.select(bench.measures(inventory()), only=["login_rates"])]
    assert keys == ["bench_data", "login_rates"]
    order = [m.key for m in bench.measures(inventory())]
    assert order.index("login_college") < order.index("login_federated") < order.index("spray")


def test_bench_pupils_with_their_ine_for_the_lab_idp(monkeypatch):
    commands = []
    monkeypatch.setattr(
        core,
        "remote",
        lambda inv, host, command: (
            commands.append(command) or SimpleNamespace(stdout="a.b|8250000001A\nc.d|8250000002B\n")
        ),
    )
    assert dataset.bench_pupil_ines(inventory(), 2) == [
        ("a.b", "8250000001A"),
        ("c.d", "8250000002B"),
    ]
    assert "u.ine" in commands[0] and "limit 2" in commands[0]


def test_back_to_back_runs_the_names_in_turn_on_each_worker_until_the_time_is_up():
    seen = []
    results = logins.back_to_back(
        ["a", "b", "c"], 0.3, 2, lambda name: seen.append(name) or time.sleep(0.01) or name
    )
    assert sorted(results) == sorted(seen) and len(results) >= 10  # ~2 workers × 30 calls
    # The names in turn: each as often as the others, give or take the last round.
    assert {seen.count(name) for name in "abc"} <= {len(seen) // 3, len(seen) // 3 + 1}


def test_login_peak_is_the_departements_wave_with_its_cpu(monkeypatch):
    """login_peak: 4,000 logins over 900 s (the département's 7:45-8:00), summarised as
    login_college is, with the app hosts' CPU a login and on average."""
    asked, cpu = [], iter([100.0, 280.0])
    monkeypatch.setattr(login_rows, "_app_cpu", lambda inv: next(cpu))
    monkeypatch.setattr(
        login_rows,
        "_logins",
        lambda b, count, seconds, colleges: (
            asked.append((count, seconds, colleges)) or [Attempt(302, 0.2)] * count
        ),
    )
    summary = login_rows._login_peak(SimpleNamespace(inv=None))
    assert asked == [(4000, 900, "all")]
    assert summary.startswith("0 refused (lb 0, app 0) of 4000 logins from one address in 900 s")
    assert summary.endswith(
        "app hosts' CPU 180.0 s (45 ms a login, page included; 0.20 of a core on average)"
    )
    order = [m.key for m in bench.measures(inventory())]
    assert order.index("login_college") < order.index("login_peak") < order.index("spray")
