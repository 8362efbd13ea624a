"""The benchmark data set (the bench_data row): 20 establishments x 600 students, `preau-manage
seed_bench`, seeded once per lab, before the restore drill, the audit, the loads and the logins
that run on it; and the pupils of its first collège, who log in for the login rows."""

from __future__ import annotations

import shlex
import time
from typing import TYPE_CHECKING

from . import core
from .core import Bench, Measure

if TYPE_CHECKING:
    from ..inventory import Inventory

# As app/scripts/benchmark_load.py: `seed_bench` names its establishments 0825000… (bench_uai),
# which is how a lab that already holds it is recognised.
BENCH_ESTABLISHMENTS = 20
BENCH_STUDENTS = 600
BENCH_UAI_PREFIX = "0825"
BENCH_PASSWORD = "bench-preau-2026"  # seed_bench's, as app/scripts/load_mix.lua


def _bench_data(bench: Bench) -> str:
    """Seed the benchmark data set unless the lab holds it already; the seeding time (s), or
    'present', with the database size."""
    from ..procedures import app_manage
    from ..procedures.establishments import listing

    present = [e for e in listing(bench.inv) if e["uai"].startswith(BENCH_UAI_PREFIX)]
    value = f"present ({len(present)} establishments)"
    if len(present) < BENCH_ESTABLISHMENTS:
        bench.status(
            f"seeding {BENCH_ESTABLISHMENTS} establishments × {BENCH_STUDENTS} "
            "students (a few minutes)"
        )
        started = time.monotonic()
        answer = app_manage(
            bench.inv,
            f"seed_bench --establishments {BENCH_ESTABLISHMENTS} --students {BENCH_STUDENTS}",
        )
        value = f"{time.monotonic() - started:.1f} ({answer['users']} accounts)"
    db = bench.inv.hosts_in("db")[0]
    size = core.remote(
        bench.inv, db, "sudo -u postgres psql -XAtc \"select pg_database_size('preau')\""
    )
    return f"{value}, database {int(size.stdout.strip()) / 2**20:.0f} MB"


def bench_pupils(inv: Inventory, count: int, colleges: str = "first") -> list[str]:
    """Usernames of `count` pupils of the first benchmark collège, or of `colleges` "all" of
    them (psql on the db host)."""
    return [row.split("|")[0] for row in _bench_pupils(inv, count, "u.username", colleges)]


def bench_pupil_ines(inv: Inventory, count: int) -> list[tuple[str, str]]:
    """(username, INE) of `count` pupils of the first benchmark collège, as ÉduConnect would
    name them (the lab's IdP's accounts: preau_ops/lab/partners.py)."""
    rows = _bench_pupils(inv, count, "u.username || '|' || u.ine")
    return [(row.split("|")[0], row.split("|")[1]) for row in rows]


def _bench_pupils(inv: Inventory, count: int, columns: str, colleges: str = "first") -> list[str]:
    """`columns` of `count` pupils of the first benchmark collège (or of all of them: `colleges`
    "all"), one line each (psql on the db host), by username."""
    from preau.core.uai import check_letter

    first7 = f"{BENCH_UAI_PREFIX}000"
    where = {
        "first": (f"e.uai = '{first7}{check_letter(first7)}'", "the first benchmark collège"),
        "all": (f"e.uai like '{BENCH_UAI_PREFIX}%'", "the benchmark collèges"),
    }
    condition, named = where[colleges]
    sql = (
        f"select {columns} from core_user u join core_membership m on m.user_id = u.id "
        "join core_establishment e on e.id = m.establishment_id "
        f"where {condition} and m.profile = 'ELV' "
        f"order by u.username limit {int(count)}"
    )
    db = inv.hosts_in("db")[0]
    out = core.remote(inv, db, f"sudo -u postgres psql -XAt -d preau -c {shlex.quote(sql)}").stdout
    pupils = [line.strip() for line in out.splitlines() if line.strip()]
    if len(pupils) < count:
        raise RuntimeError(f"{len(pupils)} pupils in {named}, {count} needed")
    return pupils


def measures(inv: Inventory) -> list[Measure]:
    return [
        Measure(
            "bench_data",
            f"benchmark data set, {BENCH_ESTABLISHMENTS} establishments × {BENCH_STUDENTS} "
            "students (seed_bench, once per lab: s, or present)",
            "reported",
            probe=_bench_data,
        )
    ]
