"""Variants of the app for the release drills (bench rows, lab tests): a copy whose content,
hence version, differs; optionally unable to start; optionally carrying a schema change: an
expand migration (a nullable column on the establishments' table, which every page of an
establishment reads, and its backfill) or the contract one that drops it again.

Each drill names its own column (`field`): a lab that has run the drill before keeps the
earlier columns' migrations applied, so a fixed name would find nothing left to migrate.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..paths import ROOT

APP_DIR = ROOT / "app"
MIGRATIONS = "src/preau/core/migrations"
MODEL_LINE = "    name = models.CharField(max_length=200)\n"  # core.Establishment's, the anchor

ADD = """from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "{previous}")]
    operations = [
        migrations.AddField(
            "establishment", "{field}", models.CharField(max_length=200, null=True, blank=True)
        )
    ]
"""
FILL = """from django.db import migrations
from django.db.models import F


def fill(apps, schema_editor):
    model = apps.get_model("core", "Establishment")
    model.objects.filter({field}=None).update({field}=F("name"))


class Migration(migrations.Migration):
    dependencies = [("core", "9000_{field}")]
    operations = [migrations.RunPython(fill, migrations.RunPython.noop, hints={{"phase": "expand"}})]
"""
DROP = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("core", "9001_{field}_backfill")]
    operations = [migrations.RemoveField("establishment", "{field}")]
"""


def app_copy(dest: Path, note: str, broken: bool = False) -> Path:
    """A copy of the app in `dest` whose version differs by `note`; `broken`: it cannot start."""
    shutil.copytree(
        APP_DIR,
        dest,
        ignore=shutil.ignore_patterns("tests", "__pycache__", "*.egg-info", "build", "artifacts"),
    )
    (dest / "src/preau/release_note.py").write_text(f'NOTE = "{note}"\n')
    if broken:
        with open(dest / "src/preau/wsgi.py", "a") as wsgi:
            wsgi.write('\nraise RuntimeError("deliberately broken release")\n')
    return dest


def contract_migration(field: str) -> str:
    """The label of the migration that drops `field` (what a refusal names)."""
    return f"core.9002_drop_{field}"


def forget_sql(field: str) -> str:
    """SQL that removes the drill's migrations from django_migrations once its column is
    dropped again: no release has them, and the rollback check takes an applied migration that
    neither side knows for a contract one (its effect cannot be read)."""
    names = f"'9000_{field}', '9001_{field}_backfill', '9002_drop_{field}'"
    return f"DELETE FROM django_migrations WHERE app = 'core' AND name IN ({names})"


def with_column(source: Path, field: str, contract: bool = False) -> Path:
    """`source` with the expand migration adding core_establishment.`field` and its backfill
    (the model reads it); `contract`: then the migration dropping it (the model without it)."""
    migrations = source / MIGRATIONS
    previous = max(p.stem for p in migrations.glob("0*.py"))
    (migrations / f"9000_{field}.py").write_text(ADD.format(previous=previous, field=field))
    (migrations / f"9001_{field}_backfill.py").write_text(FILL.format(field=field))
    if contract:
        label = contract_migration(field).split(".", 1)[1]
        (migrations / f"{label}.py").write_text(DROP.format(field=field))
        return source
    models = source / "src/preau/core/models.py"
    text = models.read_text()
    if MODEL_LINE not in text:
        raise RuntimeError(f"core.Establishment's `name` line not found in {models}")
    column = f"    {field} = models.CharField(max_length=200, null=True, blank=True)\n"
    models.write_text(text.replace(MODEL_LINE, MODEL_LINE + column, 1))
    return source
