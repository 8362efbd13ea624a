import pytest
from preau.core.models import Establishment, User, Membership
from preau.core import importer
from preau.core.generator import generate

@pytest.mark.django_db
def test_quick(tmp_path):
    est = Establishment.objects.create(uai="0820021C", name="x")
    g = generate(tmp_path, 100, uai="0820021C")
    r = importer.import_aaf(est, g["files"])
    print(r)
    r = importer.import_aaf(est, g["files"])
    print(r)
    assert r["totals"] == {"created": 0, "updated": 0}
