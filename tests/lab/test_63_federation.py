"""Federation's keys on real hosts (issue #20 item 6): the role deploys the platform's SAML
signing pair from the vault and the GAR's SP metadata; the GAR IdP's metadata, through the lb,
carries exactly the vault's certificate; a key rotation under load (a drill) publishes two
certificates, switches, retires the old one, and fails no request. FED-01/02 run in the full
audit (test_60)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from preau_ops import inventory, pki, procedures, runner
from preau_ops.lab import partners
from preau_ops.paths import STATE_DIR

from .conftest import deploy, failures, forgive_this_address, run_audit
from .loadgen import Client, Load
from .test_32_journeys import UAI, chromium, goto, open_page

CA = str(STATE_DIR / "ca" / "ca.crt")
GAR_METADATA = "/federation/gar/metadonnees/"


def _published(lab) -> set[str]:
    """The certificates (base64 bodies) in the GAR IdP's metadata, read through the lb."""
    answer = Client(lab.hosts_in("lb")[0], CA).request("GET", GAR_METADATA)
    assert answer.status == 200, f"{GAR_METADATA}: {answer.status}"
    return pki.metadata_certificates(answer.data.decode())


def _vault(lab) -> dict:
    return pki.Vault.of(inventory.load(None)).read()


def test_the_gar_idp_publishes_the_vaults_signing_certificate(lab):
    assert _published(lab) == pki.saml_published(_vault(lab)) != set()


@pytest.mark.drill
def test_a_signing_key_rotation_under_load_fails_no_request(lab):
    before = pki.cert_bodies(_vault(lab)[pki.SAML_CERT])
    lb = lab.hosts_in("lb")[0]
    with Load(lb.address, lb.vars["preau_domain"], CA, path=GAR_METADATA, workers=2) as load:
        deploy("pki", "saml-rotate", "publish", "--min-hours", "0")
        published = _published(lab)
        assert len(published) == 2 and before < published
        deploy("pki", "saml-rotate", "switch", "--min-hours", "0")
        signing = pki.cert_bodies(_vault(lab)[pki.SAML_CERT])
        assert signing != before and _published(lab) == published
        deploy("pki", "saml-rotate", "retire", "--min-hours", "0")
        assert _published(lab) == signing
    assert load.failed == 0, dict(load.counts)
    assert load.total > 0
    code, data = run_audit("fed-after-rotation", "--control", "FED")
    assert code == 0 and not failures(data), failures(data)


# ------------------------------------------- logins through the lab's IdPs, a CAS resource
# The partners (preau_ops/lab/partners.py: pysaml2's IdP standing for ÉduConnect and for the
# académie's agents portal, a python-cas application standing for a publisher's resource) in
# their own container; their accounts are generated accounts of the demo collège, found by the
# identifiers its AAF feed gave them (seed_demo's `federation`).


@pytest.fixture(scope="module")
def identities(platform):
    deploy("release", timeout=1200)  # the app is there, whatever ran before
    demo = procedures.app_manage(platform, "seed_demo")
    forgive_this_address(platform)  # logins from here are not held by an earlier login test
    partners.up(platform, demo["federation"])
    return {**demo["federation"], "demo_password": demo["password"]}


@pytest.fixture(scope="module")
def browser(identities, platform):
    lb = platform.hosts_in("lb")[0]
    entry = (lb.address, lb.vars["preau_domain"])
    with chromium(entry, trusted=(Path(CA), Path(partners.ca_file()))) as launched:
        yield launched


@pytest.fixture
def page(browser, platform):
    page = open_page(browser, platform.hosts_in("lb")[0].vars["preau_domain"], 360, 780)
    yield page
    page.context.close()


def _through_the_idp(page, button: str, idp: partners.Idp, login: str, password: str) -> None:
    """From Préau's login page, through the IdP's own form, back to Préau."""
    goto(page, "/connexion/")
    page.get_by_role("link", name=button).click()
    page.wait_for_url(f"{partners.idp_url(idp)}/sso?**")
    page.get_by_label("Identifiant").fill(login)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_role("button", name="Se connecter").click()


EDUCONNECT, AGENTS = partners.IDPS


def test_a_pupil_through_educonnect_opens_a_partner_resource_then_logs_out_of_both(
    page, identities
):
    _through_the_idp(page, "Élève ou parent (ÉduConnect)", EDUCONNECT, "eleve", "mauvais")
    expect(page.get_by_role("alert")).to_have_text("Identifiant ou mot de passe incorrect.")
    page.get_by_label("Mot de passe").fill(partners.password())
    page.get_by_role("button", name="Se connecter").click()
    page.wait_for_url(f"**/e/{UAI}/")
    # The publisher's resource: Préau's CAS login (the session is there), a ticket, validated
    # by python-cas over TLS through the lb; it releases what the service is allowed.
    goto(page, partners.cas_service_url())
    expect(page.locator("#attributes")).to_contain_text('"ELV"')
    last = partners.get("/last.json")
    assert last["user"] == identities["pupil"]["username"]
    assert last["attributes"]["profile"] == "ELV" and last["attributes"]["uai"] == UAI
    assert last["attributes"]["identifier"] and last["attributes"]["classes"]
    # What the service was allowed, and CAS 3.0's own attributes (about the login) only.
    protocol = {"authenticationDate", "isFromNewLogin", "longTermAuthenticationRequestTokenUsed"}
    assert set(last["attributes"]) - protocol == {"identifier", "profile", "uai", "classes"}
    # Logout everywhere: Préau's session, then the IdP's.
    goto(page, f"/e/{UAI}/")
    _logs_out_of_both(page, "educonnect")


def test_a_pupil_opening_the_resource_first_logs_in_on_preaus_form_then_reaches_it(
    page, identities
):
    """The CAS flow from the resource: Préau's login form, then the ticket. The form's answer
    ends on another site, which the ENT's CSP (form-action 'self') forbids as a redirection:
    Préau goes on from a page (core.views.onward)."""
    goto(page, partners.cas_service_url())
    page.wait_for_url("**/connexion/?next=**")
    page.get_by_label("Identifiant").fill("demo.eleve")
    page.get_by_label("Mot de passe").fill(identities["demo_password"])
    page.get_by_role("button", name="Se connecter").click()
    expect(page.locator("#attributes")).to_contain_text('"ELV"')
    assert partners.get("/last.json")["user"] == "demo.eleve"


def test_a_pupil_opens_a_mediacentre_resource_and_the_gar_checks_preaus_answer(page, identities):
    """Préau as the GAR's IdP, checked over the network by pysaml2's SP (the lab's GAR
    stand-in): the médiacentre's link, the GAR's signed request, Préau's signed answer posted
    to the GAR (let through the CSP's form-action by the inventory's
    nginx_form_action_origins), and the attributes the GAR reads."""
    _through_the_idp(page, "Élève ou parent (ÉduConnect)", EDUCONNECT, "eleve", partners.password())
    page.wait_for_url(f"**/e/{UAI}/")
    goto(page, f"/e/{UAI}/mediacentre/")
    page.get_by_role("link", name=partners.GAR_RESOURCE[1]).click()
    page.wait_for_url(f"{partners.gar_url()}/acs")
    expect(page.locator("#attributes")).to_contain_text("National_elv")
    last = partners.get("/last.json", partners.GAR_PORT)
    assert last["resource"] == partners.GAR_RESOURCE[0], last
    attributes = last["attributes"]
    assert attributes["idEnt"] == [partners.GAR_ENT_ID] and attributes["UAI"] == [UAI]
    assert attributes["PRO"] == ["National_elv"]
    assert attributes["GARPersonIdentifiant"] == [last["name_id"]]


def test_a_parent_of_two_children_through_educonnect_sees_both(page, identities):
    _through_the_idp(
        page, "Élève ou parent (ÉduConnect)", EDUCONNECT, "parent", partners.password()
    )
    page.wait_for_url(f"**/e/{UAI}/")
    goto(page, f"/e/{UAI}/notes/")
    picker = page.get_by_role("navigation", name="Choisir un enfant")
    names = [child["name"] for child in identities["parent"]["children"]]
    expect(picker.get_by_role("link")).to_have_text(names, ignore_case=False, use_inner_text=True)
    _logs_out_of_both(page, "educonnect")


def test_a_teacher_through_the_academies_portal_lands_on_the_dashboard(page, identities):
    _through_the_idp(page, "Personnel (académie)", AGENTS, "prof", partners.password())
    page.wait_for_url(f"**/e/{UAI}/")
    _logs_out_of_both(page, "agents")


def _logs_out_of_both(page, idp: str) -> None:
    """Préau's logout ends the IdP's session too: its next SSO asks the password again."""
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.get_by_text("Vous êtes déconnecté de Préau et de")).to_be_visible()
    goto(page, f"/federation/connexion/{idp}/")
    expect(page.get_by_label("Mot de passe")).to_be_visible()


def test_a_person_the_directory_does_not_know_is_refused_and_nothing_is_created(
    page, identities, platform
):
    _through_the_idp(
        page, "Élève ou parent (ÉduConnect)", EDUCONNECT, "inconnu", partners.password()
    )
    expect(page.get_by_text("aucun compte Préau ne lui correspond")).to_be_visible()
    assert "/e/" not in page.url
    refusals = _refusals(platform)
    assert "unknown_person" in refusals, refusals


def _refusals(platform) -> str:
    """The app hosts' audit lines of refused federated logins, of the last ten minutes."""
    out = runner.run_everywhere(
        platform,
        "sudo -n journalctl -u preau.service --since -10min --no-pager -o cat "
        "| grep -F federation_refused || true",
        hosts=platform.hosts_in("app"),
    )
    return "\n".join(out.values())
