"""The release's wheelhouse: the dependencies' wheels built once per lock file, the app's wheel
per version; a tarball per version (pip faked: it writes a wheel per requirement line)."""

from __future__ import annotations

import tarfile
from pathlib import Path

import pytest

from preau_ops.release import build


@pytest.fixture
def pip_calls(tmp_path, monkeypatch):
    calls: list[list[str]] = []

    def fake_pip(command: list[str], cwd: str) -> None:
        calls.append(command)
        target = Path(command[command.index("-w") + 1])
        target.mkdir(parents=True, exist_ok=True)
        if "-r" in command:
            for line in Path(command[command.index("-r") + 1]).read_text().splitlines():
                (target / f"{line.split('==')[0]}-1-py3-none-any.whl").write_text(line)
        else:
            (target / "preau-0.1.0-py3-none-any.whl").write_text(Path(command[-3]).name)

    monkeypatch.setattr(build, "_pip", fake_pip)
    monkeypatch.setattr(build, "ROOT", tmp_path)
    return calls


def app(tmp_path: Path, lock: str) -> Path:
    source = tmp_path / "app"
    source.mkdir(exist_ok=True)
    (source / "requirements.lock").write_text(lock)
    return source


def members(tarball: Path) -> list[str]:
    with tarfile.open(tarball) as tar:
        return sorted(
            Path(name).name for name in tar.getnames() if name.endswith((".whl", ".lock"))
        )


def test_dependencies_are_built_once_per_lock_and_the_app_per_version(tmp_path, pip_calls):
    source = app(tmp_path, "django==5.2\npsycopg==3.2")
    first = build.build_wheelhouse("0.1.0+a", source)
    second = build.build_wheelhouse("0.1.0+b", source)
    assert members(first) == members(second) == [
        "django-1-py3-none-any.whl", "preau-0.1.0-py3-none-any.whl",
        "psycopg-1-py3-none-any.whl", "requirements.lock",
    ]  # fmt: skip
    assert [c[1] for c in pip_calls] == ["--require-hashes", "--no-deps", "--no-deps"]
    assert build.build_wheelhouse("0.1.0+b", source) == second and len(pip_calls) == 3
    # a new lock: its dependencies built again, the old ones no longer shipped
    app(tmp_path, "django==5.2.1\npsycopg==3.2")
    third = build.build_wheelhouse("0.1.0+c", source)
    assert len(pip_calls) == 5
    with tarfile.open(third) as tar:
        for name, content in (("requirements.lock", b"django==5.2.1\npsycopg==3.2"),
                              ("django-1-py3-none-any.whl", b"django==5.2.1")):  # fmt: skip
            member = tar.extractfile(f"wheelhouse/{name}")
            assert member is not None and member.read() == content
    assert len(list((tmp_path / "wheelhouse").glob("deps-*"))) == 2
