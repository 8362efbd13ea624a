"""test: the project's tests, suite by suite (what CI runs)."""

from __future__ import annotations

import argparse
import os

from ._common import Commands, add_command
from .lab import TOPOLOGIES


def register(commands: Commands, common: argparse.ArgumentParser) -> None:
    test = add_command(
        commands, common, "test", "run the project's tests (the README's test command)"
    )
    test.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="lint, unit, app, roles, lab (default: all, in that order)",
    )
    test.add_argument("-k", metavar="EXPR", help="pytest -k expression, passed through")
    test.add_argument(
        "--keep-going",
        action="store_true",
        help="run the other suites even when lint fails (by default a lint error stops the run)",
    )
    test.add_argument(
        "--topology",
        choices=TOPOLOGIES,
        help="the lab suite's topology (default: prodlike, the production-like one CI runs; "
        "or $PREAU_LAB_TOPOLOGY)",
    )
    test.add_argument(
        "--drills",
        action="store_true",
        help="with the lab suite alone: run only its long fault drills (PostgreSQL down, the "
        "backup disk full: minutes of waiting on alerts), which the default run leaves out",
    )
    test.set_defaults(handler=cmd_test)


def cmd_test(args: argparse.Namespace) -> int:
    from .. import testing

    if args.topology:  # read by tests/lab/conftest.py
        os.environ["PREAU_LAB_TOPOLOGY"] = args.topology
    return testing.run(args.suites, args.k, keep_going=args.keep_going, drills=args.drills)
