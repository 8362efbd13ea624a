"""Shipping the app and keeping its hosts current, one module per concern.

- build.py: the release's version and wheelhouse, built on the controller;
- host.py: what a host has and the actions on it (install, canary, check, drain, switch,
  prune, migrate), through the runner's sessions;
- ship.py: `deploy.py release`; rollback.py: `deploy.py rollback`; patch.py: `deploy.py patch`;
- decisions.py: every decision those three make, pure and unit-tested.
"""

from .build import APP_DIR, build_wheelhouse, source_version
from .decisions import HostReleases
from .host import CURRENT, DRAIN, host_releases
from .patch import move, patch
from .rollback import rollback
from .ship import ReleaseReport, release

__all__ = [
    "APP_DIR",
    "CURRENT",
    "DRAIN",
    "HostReleases",
    "ReleaseReport",
    "build_wheelhouse",
    "host_releases",
    "move",
    "patch",
    "release",
    "rollback",
    "source_version",
]
