"""The disk-nearly-full precondition, on df output (the lab test runs it on real hosts)."""

import time

import pytest

from preau_ops.errors import OpsError
from preau_ops.inventory import Host
from preau_ops.preconditions import (
    CLOCK_COMMAND,
    Clock,
    clock_note,
    clock_problem,
    disk_problem,
    read_clock,
    refuse_bad_clocks,
)
from preau_ops.runner import Result

DF = " 41% /\n 93% /srv/preau\n"


def test_full_filesystem_is_named_with_the_limit():
    host = Host("app1", ["app"], {})
    assert disk_problem(host, DF) == "app1: /srv/preau is 93 % full (limit 90 %)"


def test_limit_comes_from_the_inventory():
    assert disk_problem(Host("app1", ["app"], {"preau_disk_full_percent": 95}), DF) is None
    assert (
        disk_problem(Host("db", ["db"], {"preau_disk_full_percent": 40}), DF)
        == "db: / is 41 % full, /srv/preau is 93 % full (limit 40 %)"
    )


def test_same_filesystem_listed_twice_is_reported_once():
    # /srv/preau on the root filesystem: df prints the same target twice
    assert (
        disk_problem(Host("web", ["app"], {}), " 97% /\n 97% /\n")
        == "web: / is 97 % full (limit 90 %)"
    )


def test_unreadable_output_is_not_a_refusal():
    assert disk_problem(Host("web", ["app"], {}), "df: /srv/preau: No such file\n") is None


# --------------------------------------------------------------------------- the clock

NOW = 1_800_000_000.0


def clock(output: str, name: str = "db"):
    return read_clock(Host(name, ["db"], {}), output, NOW)


def test_a_synchronised_real_host_passes():
    seen = clock(f"virt=none\nsynced=yes\nnow={NOW + 0.4}\n")
    assert seen == Clock("db", "", True, pytest.approx(0.4))
    assert clock_problem(seen) is None and clock_note([seen]) is None


def test_an_unsynchronised_real_host_is_refused_only_when_sync_is_needed():
    seen = clock(f"virt=none\nsynced=no\nnow={NOW}\n")
    assert clock_problem(seen) == "db: clock not synchronised (NTP)"
    assert clock_problem(seen, need_sync=False) is None  # converge is what sets chrony up
    unknown = clock(f"virt=\nsynced=\nnow={NOW}\n")
    assert clock_problem(unknown) == "db: clock of unknown synchronisation (NTP)"


def test_a_clock_off_the_controllers_is_refused_even_in_a_container():
    seen = clock(f"virt=docker\nsynced=no\nnow={NOW - 90}\n")
    assert clock_problem(seen, need_sync=False) == "db: clock -90.0 s off the controller's"
    assert clock_problem(clock("virt=none\nsynced=yes\nnow=\n")) == "db: cannot read its clock"


def test_a_container_is_not_refused_for_sync_but_a_note_says_so():
    seen = [clock(f"virt=docker\nsynced=no\nnow={NOW + 0.2}\n", n) for n in ("app1", "app2")]
    assert [clock_problem(c) for c in seen] == [None, None]
    note = clock_note(seen)
    assert note is not None
    assert note.startswith("NTP synchronisation not checked on app1, app2: containers (docker)")
    assert "at most 0.2 s" in note


class FakeRuns:
    """A runner whose hosts answer CLOCK_COMMAND with canned outputs."""

    def __init__(self, outputs):
        self.outputs = outputs

    def run(self, host, command, *, sudo=True):
        assert command == CLOCK_COMMAND and sudo is False
        return Result(host.name, command, 0, self.outputs[host.name], "")


def test_refuse_bad_clocks_names_every_host_at_fault(capsys):
    hosts = [Host(n, ["app"], {}) for n in ("app1", "app2", "db")]
    now = f"now={time.time()}"
    runs = FakeRuns(
        {
            "app1": f"virt=none\nsynced=no\n{now}",
            "app2": f"virt=none\nsynced=yes\n{now}",
            "db": f"virt=none\nsynced=yes\nnow={time.time() + 60}",
        }
    )
    with pytest.raises(OpsError) as refused:
        refuse_bad_clocks(runs, hosts)
    assert "app1: clock not synchronised" in refused.value.message
    assert "db: clock +60" in refused.value.message and "app2" not in refused.value.message
    assert "chronyc tracking" in (refused.value.hint or "")
    containers = FakeRuns({h.name: f"virt=docker\nsynced=no\n{now}" for h in hosts})
    assert refuse_bad_clocks(containers, hosts) is not None
    assert "NTP synchronisation not checked" in capsys.readouterr().err
