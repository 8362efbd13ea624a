"""Building a release on the controller: its version and its wheelhouse.

The wheelhouse (the app's wheel + every pinned dependency, one tarball) is built once per
version, so app hosts need no package index. The dependencies' wheels are built once per
lock file (wheelhouse/deps-<its hash>/): a new version of the app alone (most releases) only
builds the app's wheel.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ..errors import OpsError
from ..paths import ROOT

APP_DIR = ROOT / "app"
# Not part of a release: what only tests, caches and builds hold.
SKIPPED_PARTS = {"tests", "__pycache__", ".cache", "build"}


def _shipped(rel: Path) -> bool:
    return not (SKIPPED_PARTS & set(rel.parts) or rel.suffix == ".pyc" or ".egg-info" in str(rel))


def source_version(source: Path = APP_DIR) -> str:
    """`<pyproject version>+<hash of the app's files>`: same source, same version."""
    import tomllib

    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    digest = hashlib.sha256()
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        rel = path.relative_to(source)
        if _shipped(rel):
            digest.update(str(rel).encode() + b"\0" + path.read_bytes())
    return f"{project['version']}+{digest.hexdigest()[:10]}"


def build_wheelhouse(version: str, source: Path = APP_DIR) -> Path:
    """Wheel of the app + every pinned dependency, as one tarball; cached per version."""
    out = ROOT / "wheelhouse"
    tarball = out / f"preau-{version}.tar"
    if tarball.exists():
        return tarball
    out.mkdir(exist_ok=True)
    deps = _dependency_wheels(source, out)
    with tempfile.TemporaryDirectory(prefix="preau-wheels-") as tmp:
        wheels = Path(tmp) / "wheelhouse"
        shutil.copytree(deps, wheels)
        _pip(["wheel", "--no-deps", "--no-build-isolation", str(source), "-w", str(wheels)], tmp)
        (wheels / "requirements.lock").write_bytes((source / "requirements.lock").read_bytes())
        partial = tarball.with_suffix(".partial")
        with tarfile.open(partial, "w") as tar:
            tar.add(wheels, arcname="wheelhouse")
        partial.rename(tarball)
    return tarball


def dependencies_id(source: Path = APP_DIR) -> str:
    """The id of the app's pinned dependencies: the start of its lock file's SHA-256 (the
    wheels' directory here, the dependencies' venv on the app hosts)."""
    return hashlib.sha256((source / "requirements.lock").read_bytes()).hexdigest()[:16]


def _dependency_wheels(source: Path, out: Path) -> Path:
    """The wheels of every pinned dependency of the app's lock file, checked against its
    hashes, built once: wheelhouse/deps-<its id>/ (made aside, then renamed)."""
    lock = source / "requirements.lock"
    deps = out / f"deps-{dependencies_id(source)}"
    if deps.is_dir():
        return deps
    with tempfile.TemporaryDirectory(prefix="preau-deps-", dir=out) as tmp:
        made = Path(tmp) / "wheels"
        _pip(["wheel", "--require-hashes", "-r", str(lock), "-w", str(made)], tmp)
        try:
            made.rename(deps)
        except OSError:
            if not deps.is_dir():  # not another build's, finished first
                raise
    return deps


def _pip(command: list[str], cwd: str) -> None:
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    result = subprocess.run([*pip, *command], capture_output=True, text=True, cwd=cwd, check=False)
    if result.returncode != 0:
        raise OpsError("building the wheelhouse failed:\n" + result.stderr[-2000:])
