"""DECL-02's reading of the declared units: one `systemctl show` for all of a host's units;
tests/lab/test_60_audit.py's stopped timer proves it on real hosts."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from preau_ops.audit.controls.system import unit_states

# What systemd 252 prints for an enabled running service, an alias (shown as the unit it
# names), a stopped timer, and a unit that does not exist.
SHOW = """UnitFileState=enabled
ActiveState=active

UnitFileState=enabled
ActiveState=active

UnitFileState=enabled
ActiveState=inactive

UnitFileState=
ActiveState=inactive
"""
UNITS = ["nginx.service", "sshd.service", "preau-backup.timer", "gone.service"]


@dataclass
class FakeRemote:
    stdout: str
    commands: list[str] = field(default_factory=list)

    def out(self, command: str) -> str:
        self.commands.append(command)
        return self.stdout


def test_every_unit_is_read_in_one_command_in_the_order_given() -> None:
    remote = FakeRemote(SHOW)
    states = unit_states(remote, UNITS)  # type: ignore[arg-type]
    assert remote.commands == [
        "systemctl show --property=UnitFileState,ActiveState " + " ".join(UNITS)
    ]
    assert states == {
        "nginx.service": ("enabled", "active"),
        "sshd.service": ("enabled", "active"),
        "preau-backup.timer": ("enabled", "inactive"),
        "gone.service": ("not-found", "inactive"),
    }


def test_no_unit_asks_nothing_and_a_short_answer_is_an_error() -> None:
    remote = FakeRemote("")
    assert unit_states(remote, []) == {}  # type: ignore[arg-type]
    assert remote.commands == []
    two_blocks = FakeRemote("\n\n".join(SHOW.split("\n\n")[:2]))
    with pytest.raises(AssertionError, match="2 blocks"):
        unit_states(two_blocks, UNITS)  # type: ignore[arg-type]
