"""Browser journey of the direction's report-card pages added with the LSU export (issue #18
item 7 and leftovers), in Debian's Chromium at desktop and phone widths, axe-core on each: the
period's LSU page (its file ready, then an export refused with the French lines saying what is
missing, then a new export asked for) and a pupil's Relevé opened from the class council."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from preau.grades.models import LsuExport
from tests.helpers import WIDTHS, fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_direction_exports_a_period_for_the_lsu(
    browser, live_server, transactional_db, check_a11y, device
):
    s = make_school()
    period, uai = s["period"], s["est"].uai
    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, s["admin"])
    page.goto(f"/e/{uai}/notes/periodes/")
    page.get_by_role("link", name=f"Export LSU du {period.name}").click()
    expect(page.get_by_role("heading", name=f"Export LSU – {period.name}")).to_be_visible()
    download = page.get_by_role("link", name="Télécharger le fichier LSU (XML)")
    response = page.request.get(download.get_attribute("href"))
    assert response.ok and response.headers["content-type"] == "application/xml"
    assert fits(page)
    check_a11y(page, f"84-direction-export-lsu-{device}")

    missing = "Léa MARTIN (5A) : identifiant Base Élèves manquant ou invalide (importez l'export des élèves de SIECLE)."
    LsuExport.objects.create(
        establishment=s["est"], period=period, requested_by="admina", made_at=timezone.now(),
        problems=[missing],
    )  # fmt: skip
    page.reload()
    expect(page.get_by_text(missing)).to_be_visible()
    expect(download).to_have_count(0)
    assert fits(page)
    check_a11y(page, f"85-direction-export-lsu-refuse-{device}")
    page.get_by_role("button", name="Exporter à nouveau (données actuelles)").click()
    expect(page.get_by_text(f"Export LSU du {period.name} demandé")).to_be_visible()
    expect(page.get_by_text("Export LSU en préparation")).to_be_visible()

    # A pupil's Relevé, from the class council.
    page.goto(f"/e/{uai}/notes/classes/{s['class'].pk}/periodes/{period.pk}/conseil/")
    page.get_by_role("link", name="MARTIN Léa").click()
    expect(
        page.get_by_role("heading", name=f"Relevé du {period.name} – Léa MARTIN")
    ).to_be_visible()
    assert fits(page)
    check_a11y(page, f"86-direction-releve-eleve-{device}")
    page.context.close()
