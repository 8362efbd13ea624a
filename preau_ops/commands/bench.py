"""bench: measure the bundle on the running lab into BENCHMARKS.md."""

from __future__ import annotations

import argparse

from .. import console as ui
from ._common import Commands, add_command, load, refuse_inventory


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    from .. import bench as bench_options  # standard library only at import

    bench = add_command(
        commands,
        common,
        "bench",
        "measure the bundle on the running lab (converge, release, rollback, "
        "establishments, backups, RPO, audit, load through the lb) into BENCHMARKS.md, "
        "next to the previous values, each measure once the machine is quiet (at most "
        "a tenth of its CPU busy); --from-nothing also times `up` (destroys the lab)",
    )
    bench_options.add_arguments(bench)
    bench.set_defaults(handler=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> int:
    from .. import bench

    refuse_inventory(args, "bench")
    return bench.run(load(args), ui.console, args)
