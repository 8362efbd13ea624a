"""The local lab: Debian 12 hosts as Docker containers running systemd, reached over SSH.

`engine` makes sure a Docker engine answers, `image` builds the host images, `hosts` creates
the containers of a topology and writes the lab inventory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..console import Progress


def remove(progress: Progress | None = None) -> list[str]:
    """The lab's stand-ins (relay, partners), containers, networks and their state removed
    (the engine and images stay): what `down` and a test run replacing another topology's lab
    both do."""
    from . import hosts, partners, relay

    stand_ins = [
        name
        for name, gone in (("preau-relay", relay.down()), ("preau-partners", partners.down()))
        if gone
    ]
    return stand_ins + hosts.down(progress)
