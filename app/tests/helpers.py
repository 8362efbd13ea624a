"""Test helpers shared by several modules."""
import re
from pathlib import Path

from django.apps import apps

from preau.core.generator import generate
from preau.core.models import Establishment


def snapshot() -> dict:
    """Every row of every Préau model (minus timestamps that never change): equality = nothing changed."""
    data = {}
    for label in ("core", "ent"):
        for model in apps.get_app_config(label).get_models():
            if not model._meta.managed:  # UserSession: Django's session table, logins change it
                continue
            data[model.__name__] = sorted(map(repr, model.objects.values_list()))
    return data


def make_establishment(uai="0820021C", name="Collège Jean Moulin", town="Montauban"):
    return Establishment.objects.create(uai=uai, name=name, town=town)


def small_feed(tmp_path: Path, students=20, uai="0820021C", seed=1) -> dict:
    """Generated feed, plus a {category: Path} map for editing."""
    feed = generate(tmp_path, students, uai=uai, seed=seed)
    feed["by_category"] = {re.search(r"_([A-Za-z]+)_0000", Path(f).name).group(1): Path(f)
                           for f in feed["files"]}
    return feed


def first_record(path: Path) -> str:
    text = path.read_text(encoding="utf-8")
    return re.search(r"<addRequest>.*?</addRequest>", text).group(0)


def record_id(record: str) -> str:
    return re.search(r"<id>(.*?)</id>", record).group(1)


def edit_first_record(path: Path, old: str, new: str) -> str:
    """Replace `old` by `new` (regex) inside the first record; return that record's id."""
    text = path.read_text(encoding="utf-8")
    record = first_record(path)
    edited, n = re.subn(old, new, record, count=1)
    assert n == 1, f"{old!r} not found in first record of {path.name}"
    path.write_text(text.replace(record, edited, 1), encoding="utf-8")
    return record_id(record)
