"""Shipping the app: build, release, rollback and patch (being split by concern, issue #24)."""

from .host import (
    APP_DIR,
    CURRENT,
    DRAIN,
    HostReleases,
    ReleaseReport,
    build_wheelhouse,
    host_releases,
    patch,
    pyinfra_state,
    read_fact,
    release,
    rollback,
    run_manage,
    shell,
    source_version,
)

__all__ = [
    "APP_DIR",
    "CURRENT",
    "DRAIN",
    "HostReleases",
    "ReleaseReport",
    "build_wheelhouse",
    "host_releases",
    "patch",
    "pyinfra_state",
    "read_fact",
    "release",
    "rollback",
    "run_manage",
    "shell",
    "source_version",
]
