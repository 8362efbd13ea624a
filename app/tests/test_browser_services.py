"""Browser journeys of the daily services: a teacher records an absence, a grade and homework;
a parent sees them and justifies the absence; the vie scolaire validates; a student hands in
the homework and writes to the teacher (communication rules). axe-core on every page visited,
screenshots at desktop and phone widths."""

import re

import pytest
from icalendar import Calendar
from playwright.sync_api import expect

from preau.attendance.models import Absence
from preau.grades.models import Grade
from preau.logbook.models import Homework, Submission
from preau.messaging.models import Message
from tests.helpers import fits, new_page, sign_in
from tests.school import make_school

pytestmark = pytest.mark.browser


@pytest.fixture
def school(transactional_db):
    s = make_school()
    Absence.objects.all().delete()
    return s


def logout(page):
    page.get_by_role("button", name="Se déconnecter").click()


def test_teacher_parent_student_day(page, live_server, school, check_a11y, tmp_path):
    s = school
    uai = s["est"].uai
    student = s["student"]

    # --- the teacher: roll call, grades, logbook -------------------------------------------
    sign_in(page, live_server, s["teacher"])
    page.goto("/")
    page.get_by_role("link", name=s["est"].name).click()
    check_a11y(page, "10-prof-tableau-de-bord")
    page.get_by_role("link", name=f"Faire l'appel en {s['class'].name}").click()
    page.locator(f"input[name=etat_{student.pk}][value=absent]").check()
    check_a11y(page, "11-prof-appel")
    page.get_by_role("button", name="Enregistrer l'appel").click()
    expect(page.get_by_text("Appel enregistré : 1 modification(s).")).to_be_visible()
    assert Absence.objects.filter(student=student, kind="absence").exists()

    page.get_by_role("link", name="Notes", exact=True).click()
    page.get_by_role("link", name="Nouvelle évaluation").click()
    page.get_by_label("Classe et matière").select_option(label=f"{s['class'].name} – Mathématiques")
    page.get_by_label("Intitulé").fill("Équations")
    page.get_by_label("Coefficient").fill("2")
    check_a11y(page, "12-prof-nouvelle-evaluation")
    page.get_by_role("button", name="Créer l'évaluation").click()
    page.get_by_label(f"{student.last_name} {student.first_name}").fill("16,5")
    page.get_by_label(f"{s['other_student'].last_name} {s['other_student'].first_name}").fill("abs")
    page.get_by_role("button", name="Enregistrer les notes").click()
    expect(page.get_by_text("Notes enregistrées.")).to_be_visible()
    check_a11y(page, "13-prof-saisie-notes")
    assert Grade.objects.get(assessment__title="Équations", student=student).value == 16.5

    page.get_by_role("link", name="Cahier de textes").click()
    page.get_by_role("link", name="Nouvelle séance").click()
    page.get_by_label("Classe et matière").select_option(label=f"{s['class'].name} – Mathématiques")
    page.get_by_label("Titre de la séance").fill("Équations du premier degré")
    page.get_by_label("Travail à faire").fill("Résoudre les équations 1 à 5 page 48")
    page.get_by_label("Pour le").fill(s["homework"].due_on.isoformat())
    page.get_by_label("Les élèves rendent un fichier").check()
    check_a11y(page, "14-prof-nouvelle-seance")
    page.get_by_role("button", name="Enregistrer la séance").click()
    expect(page.get_by_text("Séance enregistrée")).to_be_visible()
    homework = Homework.objects.get(description__startswith="Résoudre les équations")
    logout(page)

    # --- the parent: sees everything, justifies the absence --------------------------------
    sign_in(page, live_server, s["parent"])
    page.goto(f"/e/{uai}/")
    expect(page.get_by_text("Résoudre les équations 1 à 5")).to_be_visible()
    expect(page.get_by_text("16,5/20")).to_be_visible()
    check_a11y(page, "20-parent-tableau-de-bord")
    page.get_by_role("link", name=re.compile("^Justifier")).first.click()
    page.get_by_label("Motif de l'absence").fill("Rendez-vous chez l'orthodontiste")
    check_a11y(page, "21-parent-justifier")
    page.get_by_role("button", name="Envoyer le justificatif").click()
    expect(page.get_by_text("Justificatif envoyé à la vie scolaire.")).to_be_visible()
    check_a11y(page, "22-parent-vie-scolaire")
    page.get_by_role("link", name="Notes", exact=True).click()
    expect(page.get_by_text("Équations").first).to_be_visible()
    check_a11y(page, "23-parent-notes")
    page.get_by_role("link", name="Mes préférences").click()
    page.get_by_label("Seulement dans Préau").check()
    check_a11y(page, "24-parent-preferences")
    page.get_by_role("button", name="Enregistrer").click()
    expect(
        page.get_by_role("status").get_by_text("vous ne recevrez plus les notifications par e-mail")
    ).to_be_visible()
    s["parent"].refresh_from_db()
    assert s["parent"].email_notifications is False
    logout(page)

    # --- the vie scolaire validates ---------------------------------------------------------
    sign_in(page, live_server, s["evs"])
    page.goto(f"/e/{uai}/vie-scolaire/")
    check_a11y(page, "30-vie-scolaire-a-valider")
    page.get_by_role(
        "button", name=f"Accepter le justificatif de {student.first_name} {student.last_name}"
    ).click()
    expect(page.get_by_text("justifiée").first).to_be_visible()
    assert Absence.objects.get(student=student).status == "accepted"
    logout(page)

    # --- the student hands in the homework and writes to the teacher -----------------------
    sign_in(page, live_server, student)
    page.goto(f"/e/{uai}/cahier-de-textes/")
    check_a11y(page, "40-eleve-cahier-de-textes")
    page.get_by_role("link", name=re.compile("Mathématiques pour le")).filter(
        has_text="Mathématiques"
    ).first.click()
    if not page.get_by_text("Résoudre les équations").is_visible():
        page.goto(f"/e/{uai}/cahier-de-textes/devoirs/{homework.pk}/")
    copy = tmp_path / "ma-copie.pdf"
    copy.write_bytes(b"%PDF-1.4 copie de l'eleve")
    page.get_by_label("Fichier à rendre").set_input_files(str(copy))
    page.get_by_role("button", name="Rendre le travail").click()
    expect(page.get_by_text("Votre travail a bien été rendu.")).to_be_visible()
    check_a11y(page, "41-eleve-devoir-rendu")
    assert Submission.objects.filter(homework=homework, student=student).exists()

    page.get_by_role("link", name="Messagerie").click()
    page.get_by_role("link", name="Nouveau message").click()
    # Communication rules: the teacher and the vie scolaire, never another student's parent.
    expect(page.get_by_label(f"{s['teacher'].last_name} {s['teacher'].first_name}")).to_have_count(
        1
    )
    assert (
        page.get_by_label(f"{s['other_parent'].last_name} {s['other_parent'].first_name}").count()
        == 0
    )
    assert (
        page.get_by_label(f"{s['other_student'].last_name} {s['other_student'].first_name}").count()
        == 0
    )
    page.get_by_label(f"{s['teacher'].last_name} {s['teacher'].first_name}").check()
    page.get_by_label("Objet").fill("Exercice 3")
    page.get_by_label("Message", exact=True).fill("Bonjour, je ne comprends pas l'exercice 3.")
    check_a11y(page, "42-eleve-nouveau-message")
    page.get_by_role("button", name="Envoyer").click()
    expect(page.get_by_text("Message envoyé.")).to_be_visible()
    check_a11y(page, "43-eleve-conversation")
    assert Message.objects.filter(conversation__subject="Exercice 3", author=student).exists()


def visit(page, check_a11y, pages):
    """Each page fits a phone's width (no horizontal scrolling) and passes axe-core."""
    for path, name in pages:
        page.goto(path)
        assert fits(page), path  # not innerWidth: a phone's browser widens it to the content
        check_a11y(page, name)


def test_phone_width_pages(browser, live_server, school, check_a11y):
    s = school
    page = new_page(browser, live_server, 375)
    uai = s["est"].uai
    sign_in(page, live_server, s["parent"])
    visit(
        page,
        check_a11y,
        (
            (f"/e/{uai}/", "50-mobile-parent-tableau-de-bord"),
            (f"/e/{uai}/notes/", "51-mobile-parent-notes"),
            (f"/e/{uai}/emploi-du-temps/", "52-mobile-parent-emploi-du-temps"),
        ),
    )
    page.get_by_role("button", name="Se déconnecter").click()
    sign_in(page, live_server, s["teacher"])
    visit(
        page,
        check_a11y,
        (
            (f"/e/{uai}/vie-scolaire/appel/{s['class'].pk}/", "53-mobile-prof-appel"),
            (f"/e/{uai}/notes/evaluations/{s['assessment'].pk}/", "54-mobile-prof-notes"),
            (f"/e/{uai}/messagerie/{s['conversation'].pk}/", "55-mobile-prof-conversation"),
        ),
    )
    page.context.close()


def test_direction_enters_the_timetable(page, live_server, school, check_a11y):
    s = school
    sign_in(page, live_server, s["admin"])  # second factor passed (test_browser.py enrols)
    page.goto(f"/e/{s['est'].uai}/emploi-du-temps/classes/{s['class'].pk}/")
    page.get_by_role("link", name="Ajouter un cours").click()
    page.get_by_label("Jour").select_option(label="Jeudi")
    page.get_by_label("Début").fill("14:00")
    page.get_by_label("Fin").fill("13:00")
    page.get_by_label("Matière").select_option(label="Mathématiques")
    page.get_by_label("Enseignant").select_option(
        label=f"{s['teacher'].last_name} {s['teacher'].first_name}"
    )
    page.get_by_label("Salle").fill("B21")
    page.get_by_role("button", name="Ajouter le cours").click()
    expect(page.get_by_text("La fin du cours doit être après son début.")).to_be_visible()
    check_a11y(page, "40-direction-cours-erreur")
    page.get_by_label("Fin").fill("15:00")
    page.get_by_role("button", name="Ajouter le cours").click()
    expect(page.get_by_text("Cours ajouté à l'emploi du temps.")).to_be_visible()
    expect(page.get_by_text("14:00–15:00")).to_be_visible()
    check_a11y(page, "41-direction-emploi-du-temps-classe")
    page.get_by_role("link", name="Supprimer le cours du jeudi à 14:00").click()
    check_a11y(page, "42-direction-supprimer-cours")
    page.get_by_role("button", name="Supprimer le cours").click()
    expect(page.get_by_text("Cours supprimé de l'emploi du temps.")).to_be_visible()
    assert page.get_by_text("14:00–15:00").count() == 0


def test_week_grid_at_desktop_and_phone_widths(browser, live_server, page, school, check_a11y):
    """The vie scolaire chooses a teacher's week and moves to the next one (1280 px); a pupil's
    week at 360 px: the grid scrolls inside its own frame, never the page; then the pupil's
    calendar feed, created from the page and read back."""
    s = school
    uai = s["est"].uai
    sign_in(page, live_server, s["evs"])
    page.goto(f"/e/{uai}/emploi-du-temps/")
    page.get_by_label("Classe, enseignant ou salle").select_option(
        label=s["teacher"].get_full_name()
    )
    page.get_by_role("button", name="Afficher").click()
    grid = page.get_by_role("region", name=re.compile("Semaine du"))
    expect(grid.get_by_text("salle B12")).to_be_visible()
    check_a11y(page, "60-vie-scolaire-grille-enseignant")
    shown = page.locator("#semaine").inner_text()
    page.get_by_role("link", name="Semaine suivante").click()
    expect(page.locator("#semaine")).not_to_have_text(shown)
    title = f"Emploi du temps – {s['teacher'].get_full_name()}"
    expect(page.get_by_role("heading", name=title)).to_be_visible()

    phone = new_page(browser, live_server, 360)
    sign_in(phone, live_server, s["student"])
    visit(phone, check_a11y, ((f"/e/{uai}/emploi-du-temps/", "61-mobile-eleve-grille"),))
    frame = phone.get_by_role("region", name=re.compile("Semaine du"))
    assert frame.evaluate("el => el.scrollWidth > el.clientWidth")  # scrolls in its frame
    assert frame.get_by_text("salle B12").count() == 1
    # The pupil puts the timetable in the phone's calendar: the secret link, shown once, gives
    # the .ics of their lessons.
    phone.get_by_role("link", name="Mettre l'emploi du temps dans l'agenda").click()
    phone.get_by_role("button", name="Créer mon lien").click()
    expect(phone.get_by_text("Ce lien est secret")).to_be_visible()
    assert fits(phone)
    check_a11y(phone, "62-mobile-eleve-agenda")
    feed = phone.request.get(phone.locator("#lien-agenda").inner_text())
    phone.reload()  # the POST was redirected: a reload shows no link and makes none
    expect(phone.get_by_role("button", name="Régénérer le lien")).to_be_visible()
    assert phone.locator("#lien-agenda").count() == 0
    assert feed.ok and feed.headers["content-type"] == "text/calendar; charset=utf-8"
    lessons = Calendar.from_ical(feed.body()).walk("VEVENT")
    assert lessons and {str(e["LOCATION"]) for e in lessons} == {"B12"}
    assert {str(e["SUMMARY"]) for e in lessons} == {f"Mathématiques ({s['class'].name})"}
    phone.context.close()


def test_direction_imports_an_edt_file_and_reads_the_report(
    browser, live_server, page, school, check_a11y, run_jobs, tmp_path
):
    """The direction sends the EDT export (1280 px): the page says the import is running, the
    job runs, the page shows the report; at 360 px the report fits the width."""
    from tests.timetable.test_imports import TIMETABLE, fixture

    s = school
    uai = s["est"].uai
    path = tmp_path / TIMETABLE
    path.write_bytes(fixture(TIMETABLE))
    sign_in(page, live_server, s["admin"])
    page.goto(f"/e/{uai}/emploi-du-temps/")
    page.get_by_role("link", name="Importer l'emploi du temps").click()
    page.get_by_label("Fichier").set_input_files(path)
    page.get_by_label("Format").select_option(
        label="EDT ou UDT : emploi du temps exporté pour STS (XML)"
    )
    check_a11y(page, "63-direction-import-edt")
    page.get_by_role("button", name="Importer").click()
    report = page.get_by_role("region", name=f"Import de {TIMETABLE}").get_by_role("status")
    expect(report).to_contain_text("Import en cours")
    run_jobs()
    page.reload()
    expect(report).to_contain_text("Import terminé")
    expect(report).to_contain_text("3 cours importé(s)")
    check_a11y(page, "64-direction-import-compte-rendu")

    phone = new_page(browser, live_server, 360)  # every page's width: test_browser_phone.py
    sign_in(phone, live_server, s["admin"])
    visit(phone, check_a11y, ((page.url, "65-mobile-direction-import-compte-rendu"),))
    expect(phone.get_by_text("3 cours importé(s)")).to_be_visible()
    phone.context.close()
