"""Browser journey of the operators' console (issue #19 item 8), in Debian's Chromium at
desktop and phone widths, axe-core on every page: the establishments table sorted, an import's
report, an account found across establishments without accents and opened, the statistics
with their chart and table."""

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from preau.console import stats, usage
from preau.core.models import Membership, OperationLog, User
from tests.helpers import WIDTHS, fits, make_establishment, new_page, sign_in

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("device", WIDTHS)
def test_console_journey(browser, live_server, transactional_db, check_a11y, device):
    a = make_establishment("0820021C", name="Collège Jean Moulin")
    b = make_establishment("0820010R", name="Collège Olympe de Gouges")
    for est, username, profile in [(a, "castex.helene", "DIR"), (b, "escande.zoe", "ELV")]:
        first, last = username.split(".")[1].capitalize(), username.split(".")[0].upper()
        user = User.objects.create_user(username, None, first_name=first, last_name=last)
        Membership.objects.create(user=user, establishment=est, profile=profile)
    User.objects.filter(username="castex.helene").update(first_name="Hélène")
    OperationLog.objects.create(
        establishment=a, kind="import_aaf", summary={"created": 1, "errors": []}
    )
    for service in ("messaging", "grades"):
        usage.record(b.uai, "ELV", service, 7)
    stats.aggregate()
    operator = User.objects.create_superuser("admc", "mot-de-passe-long-2", last_name="ADMC")

    page = new_page(browser, live_server, WIDTHS[device])
    sign_in(page, live_server, operator)
    page.goto("/console/")
    page.get_by_label("Trier par").select_option(label="Élèves")
    page.get_by_label("Ordre").select_option(label="décroissant")
    page.get_by_role("button", name="Trier").click()
    page.wait_for_url("**/console/?tri=eleves&ordre=desc")
    expect(page.locator("tbody tr").first).to_contain_text("Collège Olympe de Gouges")
    assert fits(page)
    check_a11y(page, f"90-console-etablissements-{device}")

    page.get_by_role("link", name="rapport de l'import de Collège Jean Moulin").click()
    expect(
        page.get_by_role("heading", name="Rapport d'import – Collège Jean Moulin")
    ).to_be_visible()
    assert fits(page)
    check_a11y(page, f"91-console-rapport-{device}")

    page.get_by_role("link", name="Comptes").click()
    page.get_by_label("Nom, prénom ou identifiant").fill("helene")
    page.get_by_role("button", name="Rechercher").click()
    expect(page.get_by_role("status")).to_have_text("1 résultat.")
    assert fits(page)
    check_a11y(page, f"92-console-recherche-{device}")
    page.get_by_role("link", name="CASTEX Hélène").click()
    expect(page.get_by_role("heading", name="CASTEX Hélène")).to_be_visible()
    assert OperationLog.objects.filter(kind="console_account", establishment=a).exists()
    assert fits(page)
    check_a11y(page, f"93-console-compte-{device}")

    page.get_by_role("link", name="Statistiques").click()
    page.get_by_role("button", name="Afficher").click()
    expect(page.get_by_role("img", name="Visites par période")).to_be_visible()
    today = timezone.localdate().strftime("%d/%m/%Y")
    table = page.get_by_role("table", name="Visites et visiteurs par période")
    expect(table.get_by_role("rowheader")).to_have_text(today)
    expect(table.locator("td")).to_have_text(["1", "1"])  # one visit, one visitor
    expect(page.get_by_role("link", name="Exporter en CSV")).to_have_attribute(
        "href", "/console/statistiques/export.csv?periode=jour&etablissement=&profil="
    )
    assert fits(page)
    check_a11y(page, f"94-console-statistiques-{device}")
    page.context.close()
