"""deploy.py bench: what it reads from wrk, psql and the lb's log, which measures a run makes,
and the results file (no lab needed: commands and probes are replaced)."""

import argparse
import json
from pathlib import Path

import pytest

from preau_ops import bench
from preau_ops.bench import core, growth, load, memory, operations, recovery, table
from preau_ops.inventory import Host, Inventory

WRK_STATIC = """Running 15s test @ https://172.30.82.12/_preau/wait.css
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.10ms    1.52ms  40.12ms   93.21%
  Latency Distribution
     50%  744.00us
     75%    1.05ms
     90%    1.80ms
     99%    1.20s
  458566 requests in 15.00s, 2.06GB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:  30571.93
"""


def mix(statuses, rps=150.0, duration=30.0, p95=200.0, p99=400.0, pace_ms=0.0, **errors):
    socket = {"connect": 0, "read": 0, "write": 0, "timeout": 0, "status": 0, **errors}
    body = {
        "requests": sum(statuses.values()),
        "duration_s": duration,
        "rps": rps,
        "p50_ms": 50.0,
        "p90_ms": 150.0,
        "p95_ms": p95,
        "p99_ms": p99,
        "max_ms": 900.0,
        "errors": socket,
        "statuses": {str(k): v for k, v in statuses.items()},
        "pace_ms": pace_ms,
    }
    return (
        "Running 30s test\n  2 threads and 16 connections\nPREAU_RESULT " + json.dumps(body) + "\n"
    )


def inventory():
    hosts = {
        "lb": Host(
            "lb", ["lb"], {"ansible_host": "172.30.82.12", "preau_domain": "ent.preau.test"}
        ),
        "app1": Host("app1", ["app"], {"ansible_host": "172.30.82.21"}),
        # (a loaded inventory carries the wiring's values: playbooks/group_vars/all)
        "db": Host("db", ["db"], {"ansible_host": "172.30.82.31", "postgresql_version": 17}),
    }
    return Inventory(path=None, hosts=hosts, groups={"lb": ["lb"], "app": ["app1"], "db": ["db"]})


# ----------------------------------------------------------------------------- wrk reports


def test_plain_wrk_report_gives_rate_p99_in_ms_and_every_error():
    assert load._wrk_result(WRK_STATIC) == "30572 req/s, p99 1200 ms, 12 errors"


def test_wrk_report_without_rate_is_a_failure():
    assert load._wrk_result("unable to connect to 172.30.82.12:443 Connection refused") == "failed"


def test_wrk_goes_to_the_lb_address_with_the_public_name():
    command = load._wrk(inventory(), "/_preau/wait.css")
    assert command[-1] == "https://172.30.82.12/_preau/wait.css"
    assert "Host: ent.preau.test" in command


def test_mix_command_runs_the_app_mix_with_the_sessions_file(tmp_path):
    command = load._mix_command(inventory(), tmp_path / "sessions.tsv", 16, 30)
    assert command[command.index("-s") + 1].endswith("app/scripts/load_mix.lua")
    assert command[-3:] == ["https://172.30.82.12", "--", str(tmp_path / "sessions.tsv")]
    assert "-c16" in command and "-d30s" in command


def test_mix_output_without_result_line_is_none():
    assert load._mix_output("wrk: cannot load script") is None


def test_mix_counts_429_of_the_login_rate_limit_apart_and_everything_else_as_errors():
    result = load._mix_output(mix({200: 4400, 302: 30, 429: 20, 403: 2, 500: 1}, read=3))
    assert load._mix_summary(result) == (
        "148 req/s served (2xx/3xx), p95 200 ms, p99 400 ms, 6 errors (2 × 403, 1 × 500, "
        "3 socket), 20 logins refused by the lb's rate limit (one client address)"
    )


def test_mix_rate_is_what_was_served_not_fast_waiting_pages():
    result = load._mix_output(mix({200: 300, 503: 90000}, rps=3010.0))
    summary = load._mix_summary(result)
    assert summary.startswith("10 req/s served")
    assert "90000 errors (90000 × 503)" in summary


# ------------------------------------------------------------------------------- overload

LB_LOG = """\
172.30.82.1 - - [29/Nov/2026:09:25:32 +0000] "GET /e/0825018J/ HTTP/1.1" 200 5120 "-" "-" rt=0.210 upstream=172.30.82.21:8000 ut=0.209
172.30.82.1 - - [29/Nov/2026:09:25:32 +0000] "GET /e/0825018J/ HTTP/1.1" 503 536 "-" "-" rt=0.000 upstream=preau_app ut=0.000
172.30.82.1 - - [29/Nov/2026:09:25:32 +0000] "GET /e/0825018J/notes/ HTTP/1.1" 503 536 "-" "-" rt=0.000 upstream=preau_app ut=0.000
172.30.82.1 - - [29/Nov/2026:09:25:32 +0000] "GET /e/0825018J/cahier/ HTTP/1.1" 503 536 "-" "-" rt=0.000 upstream=- ut=-
172.30.82.1 - - [29/Nov/2026:09:25:33 +0000] "POST /connexion/ HTTP/1.1" 503 536 "-" "-" rt=0.002 upstream=- ut=-
172.30.82.1 - - [29/Nov/2026:09:25:33 +0000] "GET /e/0825001C/ HTTP/1.1" 503 2110 "-" "-" rt=1.450 upstream=172.30.82.21:8000, 172.30.82.22:8000 ut=1.001, 0.449
127.0.0.1 - - [29/Nov/2026:09:25:34 +0000] "GET /stub_status HTTP/1.1" 200 109 "-" "NGINX-Prometheus-Exporter/v0.11.0-1+b4"
"""


def count_503s(log=LB_LOG):
    """COUNT_503 run by this machine's awk, as on the lb."""
    import subprocess

    return subprocess.run(
        ["awk", load.COUNT_503], input=log, capture_output=True, text=True, check=True
    ).stdout


def test_503s_of_the_lb_log_are_counted_by_time_and_origin():
    assert sorted(load._counted_503s(count_503s())) == [
        (0.0, "limit", 1),
        (0.0, "none", 2),
        (2.0, "limit", 1),
        (1450.0, "app", 1),
    ]


def test_overload_reports_waiting_share_their_p99_other_5xx_and_recovery():
    result = load._mix_output(
        mix({200: 200, 503: 700, 502: 4, 500: 1, 429: 95}, rps=50.0, duration=20.0, timeout=6)
    )
    assert load._overload_summary(result, count_503s(), 4.26) == (
        "10 req/s served (2xx/3xx) of 50 answers/s (p95 200 ms, p99 400 ms, every answer), "
        "70 % waiting page (503) (answered by the "
        "lb's limit of requests in flight 40 %, the lb with no app host in rotation 40 %, the "
        "app 20 %), p99 of the 503s 1450 ms at the lb, 5 other 5xx, "
        "6 socket errors (timeout 6), 200 again after 4.3 s"
    )


def test_overload_without_recovery_says_so_and_sub_millisecond_waiting_pages():
    result = load._mix_output(mix({503: 10}, rps=1.0, duration=10.0))
    summary = load._overload_summary(result, "0.000 limit 10\n", None)
    assert "100 % waiting page" in summary and "p99 of the 503s < 1 ms" in summary
    assert summary.endswith(f"no 200 within {load.RECOVERY_LIMIT_SECONDS} s")


def test_overload_connections_hold_the_rate_at_twice_the_queueing_limit_per_thread():
    assert load._overload_connections(250) == 500
    assert load._overload_connections(205.4) == 412  # 411, rounded up to a multiple of 2 threads
    assert load._overload_connections(3, threads=2) == load.MIX_CONNECTIONS
    assert load._overload_connections(250, threads=3) % 3 == 0


def test_pace_per_thread_gives_the_offered_rate_back():
    assert load._pace_ms(250, threads=2) == 8.0
    assert load._pace_ms(100, threads=1) == 10.0
    assert load._offered(load._pace_ms(248, threads=2), threads=2) == pytest.approx(248)
    with pytest.raises(ValueError):
        load._pace_ms(0)


def overload_bench(mix_result=None):
    b = core.Bench(inventory(), None)
    if mix_result:
        b.results["lb_mix"] = load._mix_output(mix_result)
    return b


def test_overload_offers_twice_what_lb_mix_served_in_the_same_run():
    b = overload_bench(mix({200: 3700, 302: 30, 429: 20}, duration=30.0))  # 124.3 req/s served
    assert load._overload_rate(b) == (249, "2 × lb_mix's 124")


def test_overload_without_lb_mix_in_the_run_takes_the_previous_results(monkeypatch):
    monkeypatch.setattr(
        table,
        "previous",
        lambda text=None: {
            "lb_mix": "131 req/s served (2xx/3xx), p95 306 ms, p99 439 ms, 0 errors"
        },
    )
    assert load._overload_rate(overload_bench()) == (262, "2 × the previous run's lb_mix 131")
    monkeypatch.setattr(table, "previous", lambda text=None: {"lb_mix": "failed"})
    with pytest.raises(RuntimeError):
        load._overload_rate(overload_bench())


def test_served_rate_of_an_lb_mix_row():
    assert core.rate("124 req/s served (2xx/3xx), p95 306 ms", "req/s served") == 124.0
    assert core.rate("not measured (this run: --only)", "req/s served") is None
    assert core.rate(None, "req/s served") is None


def test_wrk_is_paced_only_when_asked_and_never_by_inheritance():
    base = {"PATH": "/usr/bin", "PREAU_PACE_MS": "1.000"}
    assert load._mix_env(None, base) == {"PATH": "/usr/bin"}
    assert load._mix_env(8.0, base) == {"PATH": "/usr/bin", "PREAU_PACE_MS": "8.000"}


def test_a_run_at_another_pace_than_asked_is_refused():
    load._check_pace(load._mix_output(mix({200: 1}, pace_ms=8.0)), 8.0)
    load._check_pace(load._mix_output(mix({200: 1})), None)
    with pytest.raises(RuntimeError):
        load._check_pace(load._mix_output(mix({200: 1}, pace_ms=0.0)), 8.0)
    with pytest.raises(RuntimeError):
        load._check_pace(load._mix_output(mix({200: 1}, pace_ms=8.0)), None)


def test_percentile_is_nearest_rank_over_counts():
    assert core.percentile([], 0.99) is None
    assert core.percentile([(v, 1) for v in range(100, 0, -1)], 0.99) == 99
    assert core.percentile([(0.0, 989), (5.0, 10), (900.0, 1)], 0.99) == 5.0
    assert core.percentile([(0.0, 990), (5.0, 9), (900.0, 1)], 0.99) == 0.0


def test_ratio_of_rates_from_two_rows():
    rows = {
        "lb_static": "30000 req/s, p99 7 ms, 0 errors",
        "lb_mix": "150 req/s served (2xx/3xx), p95 300 ms",
    }
    assert load._ratio(rows, "lb_mix") == "0.005"
    assert load._ratio({"lb_static": "failed", "lb_mix": rows["lb_mix"]}, "lb_mix") is None


# ------------------------------------------------------------------------------------- RPO

PSQL = "60\n0/2A0000C8\n00000001000000000000002A\n0/2B000028\n00000001000000000000002B\n"


def test_commit_segment_is_the_one_after_the_switch():
    assert recovery._commit_segment(PSQL) == (60, "00000001000000000000002B")


def test_commit_left_in_the_switched_segment_is_refused():
    same = "60\n0/2A0000C8\n00000001000000000000002A\n0/2A0000F0\n00000001000000000000002A\n"
    with pytest.raises(ValueError, match="not after the switched segment"):
        recovery._commit_segment(same)
    with pytest.raises(ValueError, match="unexpected psql output"):
        recovery._commit_segment("psql: error: connection to server failed\n")


def test_archived_segment_path_in_the_repository():
    assert (
        recovery._archived_glob("/var/lib/pgbackrest", "preau", "00000001000000000000002B")
        == "/var/lib/pgbackrest/archive/preau/*/0000000100000000/00000001000000000000002B-*"
    )
    with pytest.raises(ValueError):
        recovery._archived_glob("/var/lib/pgbackrest", "preau", "2B; rm -rf /")


# ------------------------------------------------------------------------------- selection


def keys(measures):
    return [m.key for m in measures]


def test_default_run_leaves_out_up_from_nothing_and_seeds_before_the_drill_and_loads():
    chosen = keys(bench.select(bench.measures(inventory())))
    assert not [k for k in chosen if k.startswith("up_from_nothing")]
    assert chosen[0] == "bench_data"
    for later in ("backup_drill", "audit", "lb_mix", "lb_overload", "rpo"):
        assert chosen.index("bench_data") < chosen.index(later)
    assert chosen.index("lb_static") < chosen.index("lb_mix") < chosen.index("lb_overload")


def test_from_nothing_comes_first_cached_or_uncached():
    all_measures = bench.measures(inventory())
    assert keys(bench.select(all_measures, from_nothing=True))[:2] == [
        "up_from_nothing",
        "bench_data",
    ]
    uncached = keys(bench.select(all_measures, from_nothing=True, uncached=True))
    assert uncached[0] == "up_from_nothing_uncached" and "up_from_nothing" not in uncached
    assert "up_from_nothing_uncached" not in keys(bench.select(all_measures, uncached=True))


def test_cost_growth_runs_only_with_growth_and_says_how_to_ask_for_it():
    all_measures = bench.measures(inventory())
    assert "cost_growth" not in keys(bench.select(all_measures))
    assert "cost_growth" not in keys(bench.select(all_measures, only=["cost_growth"]))
    assert keys(bench.select(all_measures, only=["cost_growth"], growth=True)) == ["cost_growth"]
    assert "cost_growth" in keys(bench.select(all_measures, growth=True))
    rows = {m.key: value for m, value, _ in bench._rows(all_measures, {}, {}, "skipped")}
    assert rows["cost_growth"] == "not measured (opt-in: `bench --growth`)"
    assert rows["up_from_nothing_uncached"].endswith("`bench --from-nothing --uncached`)")


def test_the_upgrades_run_only_with_upgrades_last_and_after_the_data_set():
    """They move the lab for good (Debian 13, PostgreSQL 17): never without --upgrades, and
    after every other measure of the run."""
    all_measures = bench.measures(inventory())
    upgrades = ["upgrade_debian_rolling", "upgrade_pg_downtime"]
    assert not set(upgrades) & set(keys(bench.select(all_measures)))
    assert keys(bench.select(all_measures, upgrades=True))[-2:] == upgrades
    only = keys(bench.select(all_measures, only=["upgrade_pg_downtime"], upgrades=True))
    assert only == ["bench_data", *upgrades]
    rows = {m.key: value for m, value, _ in bench._rows(all_measures, {}, {}, "skipped")}
    assert rows["upgrade_pg_downtime"] == "not measured (opt-in: `bench --upgrades`)"


def test_cost_growth_row_gives_each_size_and_the_growth_per_page():
    def figures(n, app, pg):
        return {
            "establishments": n,
            "accounts": n * 1674,
            "database_mb": n * 7,
            "app_ms": app,
            "postgres_ms": pg,
            "queries": 5.4,
            "requests": 1500,
        }

    value = growth.describe([figures(20, 5.0, 1.3), figures(40, 5.2, 1.3), figures(80, 5.9, 1.7)])
    assert value.startswith("20 (33480 accounts, 140 MB): 6.3 ms = 5.0 app + 1.3 PostgreSQL, ")
    assert " · 80 (133920 accounts, 560 MB): 7.6 ms = 5.9 app + 1.7 PostgreSQL" in value
    assert value.endswith(" · 80 vs 20: +21 % per page")
    assert growth.cheapest([figures(20, 5.0, 1.3), figures(20, 4.8, 1.6)])["app_ms"] == 5.0


def test_cost_growth_measures_each_size_in_turn_in_its_own_data_directory(monkeypatch):
    seen = []

    def step(n):
        seen.append(n)
        return {
            "establishments": n,
            "accounts": n,
            "database_mb": n,
            "app_ms": 5.0 + len(seen),
            "postgres_ms": 1.0,
            "queries": 5.0,
        }

    monkeypatch.setattr(growth, "step", step)
    value = growth._growth(core.Bench(inventory(), Path("/nonexistent")))
    assert seen == [20, 40, 80, 20, 40, 80]
    assert value.startswith("20 (20 accounts, 20 MB): 7.0 ms = 6.0 app")  # the first, cheaper run
    assert len({growth.GROWTH_PGDATA.format(establishments=n) for n in growth.STEPS}) == 3


def test_cost_growth_step_reads_the_json_line_and_names_a_failure(monkeypatch):
    import subprocess

    def fake(out, code=0, err=""):
        return lambda *a, **k: subprocess.CompletedProcess(a[0], code, out, err)

    monkeypatch.setattr(subprocess, "run", fake('| table |\n{"establishments": 40}\n'))
    assert growth.step(40) == {"establishments": 40}
    monkeypatch.setattr(subprocess, "run", fake("", 1, "a\nb\nSystemExit: seed_bench failed"))
    with pytest.raises(RuntimeError, match="at 80 establishments failed .exit 1.*seed_bench"):
        growth.step(80)
    monkeypatch.setattr(subprocess, "run", fake("| table |\n"))
    with pytest.raises(RuntimeError, match="at 20 establishments failed .exit 0"):
        growth.step(20)


def test_a_measure_without_its_place_in_the_order_is_refused(monkeypatch):
    new = core.Measure("lb_new", "a new load", "reported", ["true"])
    monkeypatch.setattr(load, "measures", lambda inv: [new])
    with pytest.raises(ValueError, match="lb_new"):
        bench.measures(inventory())


def test_only_keeps_the_named_measures_and_what_they_need_in_order_and_refuses_unknown_keys():
    all_measures = bench.measures(inventory())
    assert keys(bench.select(all_measures, only=["rpo", "audit"])) == ["audit", "rpo"]
    assert keys(bench.select(all_measures, only=["rpo", "lb_mix"])) == [
        "bench_data",
        "lb_mix",
        "rpo",
    ]
    assert keys(bench.select(all_measures, only=["lb_overload"])) == [
        "bench_data",
        "lb_mix",
        "lb_overload",
    ]
    with pytest.raises(ValueError, match="unknown measure.*lb_mixx"):
        bench.select(all_measures, only=["lb_mixx"])


def test_options_parse():
    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    options = parser.parse_args(["--from-nothing", "--uncached", "--only", "rpo", "lb_mix"])
    assert options.from_nothing and options.uncached and options.only == ["rpo", "lb_mix"]
    assert parser.parse_args([]).from_nothing is False
    assert parser.parse_args(["--growth"]).growth and not parser.parse_args([]).growth


# ------------------------------------------------------------------------ the audit row


def audit_measure(monkeypatch, tmp_path, script):
    """The audit row with its command replaced by `script` (sh), run from tmp_path."""
    import dataclasses

    from preau_ops.console import console

    monkeypatch.setattr(core, "ROOT", tmp_path)
    audit = next(m for m in bench.measures(inventory()) if m.key == "audit")
    audit = dataclasses.replace(audit, command=["sh", "-c", script])
    with core.Ticker(console, "audit") as ticker:
        return core.value_of(audit, core.Bench(inventory(), tmp_path), ticker)


def test_an_audit_that_crashes_is_a_failed_row_not_a_time(monkeypatch, tmp_path):
    # exit 1 is also what a failed control gives: only the report tells the two apart
    assert audit_measure(monkeypatch, tmp_path, "exit 1") == "failed"


def test_an_audit_with_failed_controls_is_timed(monkeypatch, tmp_path):
    report = "mkdir -p artifacts/bench-audit && echo {} > artifacts/bench-audit/audit.json"
    assert audit_measure(monkeypatch, tmp_path, f"{report}; exit 1") != "failed"
    # a report left by an earlier run does not count
    assert audit_measure(monkeypatch, tmp_path, "exit 1") == "failed"


# ------------------------------------------------------------------------ from nothing


def test_from_nothing_downs_the_lab_then_times_up_on_its_topology(monkeypatch, tmp_path):
    calls = []
    monkeypatch.setattr(operations, "_lab_topology", lambda: "scaled")
    monkeypatch.setattr(operations.subprocess, "run", lambda command, **kw: calls.append(command))
    monkeypatch.setattr(operations, "_remove_lab_images", lambda: calls.append("rmi"))
    command = operations._from_nothing(uncached=False)(tmp_path)
    assert [c[-1] for c in calls] == ["down"]
    assert command[-3:] == ["up", "--topology", "scaled"]
    calls.clear()
    operations._from_nothing(uncached=True)(tmp_path)
    assert [c if c == "rmi" else c[-1] for c in calls] == ["down", "rmi"]


# --------------------------------------------------------------------------- the results

RESULTS = """# Benchmarks of the bundle

| measure | what | value | target | previous |
|---|---|---|---|---|
| `converge_noop` | converge no-op re-run (s) | 33.2 | ≤ 30 | 36.6 |
| `up_from_nothing` | `up` from nothing (s) | not measured (opt-in: `bench --from-nothing`) | ≤ 600 | 512.0 |
| `lb_mix` | the mix | 150 req/s served (2xx/3xx), p95 300 ms | ≥ 360 req/s | — |
"""


def test_previous_values_carry_over_rows_not_measured():
    assert table.previous(RESULTS) == {
        "converge_noop": "33.2",
        "up_from_nothing": "512.0",
        "lb_mix": "150 req/s served (2xx/3xx), p95 300 ms",
    }


@pytest.fixture
def fake_run(monkeypatch, tmp_path):
    """bench.run with two fake measures (a command and a probe), no lab, results in tmp."""
    results = tmp_path / "BENCHMARKS.md"
    results.write_text(RESULTS)
    probes = []
    fake = [
        core.Measure(
            "up_from_nothing", "`up` from nothing (s)", "≤ 600", ["true"], opt_in="from_nothing"
        ),
        core.Measure("converge_noop", "converge no-op re-run (s)", "≤ 30", ["true"]),
        core.Measure(
            "lb_mix",
            "the mix",
            "≥ 360 req/s",
            probe=lambda b: probes.append(b) or "140 req/s served (2xx/3xx)",
        ),
        core.Measure("status", "status (s)", "reported", ["true"]),
    ]
    monkeypatch.setattr(table, "RESULTS", results)
    monkeypatch.setattr(bench, "measures", lambda inv: fake)
    monkeypatch.setattr(memory, "measure", lambda: ("57", "1212"))
    monkeypatch.setattr(memory, "worker_shares", lambda: "PSS 41, USS 30")
    monkeypatch.setattr(core, "wait_quiet", lambda b: 0.0)
    monkeypatch.setattr("preau_ops.system.ensure", lambda *a, **k: None)
    return results, probes, fake


def test_default_run_writes_every_row_with_previous_values(fake_run):
    from preau_ops.console import console

    results, probes, _ = fake_run
    assert bench.run(inventory(), console) == 0
    text = results.read_text()
    assert "| `converge_noop` | converge no-op re-run (s) | " in text
    assert "| ≤ 30 | 33.2 |" in text
    assert (
        "| `up_from_nothing` | `up` from nothing (s) | not measured (opt-in: `bench "
        "--from-nothing`) | ≤ 600 | 512.0 |" in text
    )
    assert "| `lb_mix` | the mix | 140 req/s served (2xx/3xx) | ≥ 360 req/s | 150 req/s" in text
    assert (
        f"| `memory_worker` | {memory.ROWS[0].title} | 57 (PSS 41, USS 30) | ≤ 100 under the mix (issue #26 item 6; ≤ 150 before) | — |"
        in text
    )
    assert len(probes) == 1


def test_uncached_without_from_nothing_is_refused(fake_run):
    from preau_ops.console import console

    results, _, _ = fake_run
    assert (
        bench.run(
            inventory(), console, argparse.Namespace(from_nothing=False, uncached=True, only=None)
        )
        == 2
    )
    assert results.read_text() == RESULTS


def test_from_nothing_runs_up_first_and_a_failed_up_stops_the_run(fake_run, monkeypatch):
    from preau_ops.console import console

    results, probes, fake = fake_run
    fake[0].command = ["false"]  # `up` fails
    assert (
        bench.run(
            inventory(), console, argparse.Namespace(from_nothing=True, uncached=False, only=None)
        )
        == 1
    )
    text = results.read_text()
    assert "| `up_from_nothing` | `up` from nothing (s) | failed | ≤ 600 | 512.0 |" in text
    assert (
        "| `converge_noop` | converge no-op re-run (s) | not measured (the lab did not "
        "come up) | ≤ 30 | 33.2 |" in text
    )
    assert not probes


def test_from_nothing_then_the_other_measures_on_the_new_lab(fake_run, monkeypatch):
    from preau_ops import inventory as inventory_module
    from preau_ops.console import console

    results, probes, _ = fake_run
    monkeypatch.setattr(inventory_module, "load", lambda name: inventory())
    assert (
        bench.run(
            inventory(), console, argparse.Namespace(from_nothing=True, uncached=False, only=None)
        )
        == 0
    )
    text = results.read_text()
    assert "| `up_from_nothing` | `up` from nothing (s) | 0." in text
    assert len(probes) == 1 and "| `memory_lab` |" in text


def fake_rpo(monkeypatch, archived_after):
    """recovery._rpo against fake hosts (the runner's session replaced): the segment shows up
    `archived_after` seconds (one value per attempt) after the commit."""
    from preau_ops import runner

    clock, commits = [0.0], []

    class FakeSession:
        def __init__(self, host, inv):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            pass

        def run(self, host, command, *, sudo=True, check=True, timeout=None):
            if "pg_switch_wal" in command:
                assert host.name == "db"
                commits.append(clock[0])
                return runner.Result(host.name, command, 0, PSQL, "")
            if "until ls" in command:
                assert host.name == "ops" and not check
                assert (
                    "/var/lib/pgbackrest/archive/preau/*/0000000100000000/"
                    "00000001000000000000002B-*" in command
                )
                # the runner's own timeout outlasts the wait's (its default is 120 s)
                assert timeout > recovery.RPO_LIMIT_SECONDS
                clock[0] += archived_after[len(commits) - 1]
            return runner.Result(host.name, command, 0, "", "")

    monkeypatch.setattr(runner, "FabricSession", FakeSession)
    monkeypatch.setattr(recovery.time, "monotonic", lambda: clock[0])
    inv = inventory()
    inv.hosts["ops"] = Host("ops", ["backup"], {"ansible_host": "172.30.82.41"})
    inv.groups["backup"] = ["ops"]
    return core.Bench(inv, None), commits


def test_rpo_is_the_time_from_the_commit_to_the_segment_in_the_repository(monkeypatch):
    probe, commits = fake_rpo(monkeypatch, [61.3])
    assert recovery._rpo(probe) == "61.3 (archive_timeout 60 s)" and len(commits) == 1


def test_rpo_closed_early_by_another_switch_is_measured_again(monkeypatch):
    probe, commits = fake_rpo(monkeypatch, [1.2, 60.8])
    assert recovery._rpo(probe) == "60.8 (archive_timeout 60 s)" and len(commits) == 2
    probe, commits = fake_rpo(monkeypatch, [50.7, 61.0])  # 10 s early: another switch
    assert recovery._rpo(probe) == "61.0 (archive_timeout 60 s)" and len(commits) == 2
    probe, _ = fake_rpo(monkeypatch, [1.2, 2.0])
    assert recovery._rpo(probe).startswith("2.0 (archive_timeout 60 s; segment closed early twice")


# ------------------------------------------------------------------- quiet machine first


def test_a_load_waits_for_the_machine_to_be_quiet(monkeypatch):
    readings = iter([0.62, 0.35, 0.04])
    monkeypatch.setattr(core, "cpu_busy", lambda seconds: next(readings))
    said = []
    b = core.Bench(inventory(), None, status=said.append)
    assert core.wait_quiet(b) == 0.04
    assert said == [
        "waiting for the machine to be quiet: 62% of its CPU busy",
        "waiting for the machine to be quiet: 35% of its CPU busy",
    ]


def test_the_wait_for_a_quiet_machine_gives_up_and_says_how_busy_it_was(monkeypatch):
    monkeypatch.setattr(core, "QUIET_LIMIT_SECONDS", 0)
    monkeypatch.setattr(core, "cpu_busy", lambda seconds: 0.8)
    assert core.wait_quiet(core.Bench(inventory(), None)) == 0.8


def test_each_measure_starts_on_a_quiet_machine(fake_run, monkeypatch):
    from preau_ops.console import console

    started = []
    monkeypatch.setattr(core, "wait_quiet", lambda b: started.append("quiet") or 0.0)
    monkeypatch.setattr(core, "value_of", lambda m, b, t: started.append(m.key) or "1.0")
    assert bench.run(inventory(), console) == 0
    assert started == ["quiet", "converge_noop", "quiet", "lb_mix", "quiet", "status"]


def test_cpu_busy_reads_the_machine_counters():
    busy = core.cpu_busy(0.2)
    assert 0.0 <= busy <= 1.0


def test_the_noop_converge_row_says_where_the_time_went():
    output = json.dumps({"roles": {"base": 16.34, "(plays)": 1.2, "backup": 7.04}})
    measure = core.Measure("converge_noop", "t", "≤ 30", ["true"], detail=operations._time_per_role)
    assert core._value(measure, output, 41.23) == (
        "41.2 (per role: base 16.3 s · backup 7.0 s · (plays) 1.2 s)"
    )
    slowest = {"base : Packages": 4.75, "base : Proxy": 2.29, "backup : Timers": 1.96, "x : y": 1}
    output = json.dumps({"roles": {"base": 16.34}, "slowest_tasks": slowest})
    assert core._value(measure, output, 41.23) == (
        "41.2 (per role: base 16.3 s; slowest tasks: base : Packages 4.8 s, base : Proxy 2.3 s, "
        "backup : Timers 2.0 s)"
    )
