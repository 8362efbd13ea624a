"""Emploi du temps: CSV import and the entry form (add, edit, delete, bad slots, establishment)."""

import datetime as dt

from preau.timetable.models import TimetableSlot
from tests.school import import_file, make_school, url


def test_timetable_csv_import(client, school):
    s = school
    client.force_login(s["admin"])
    good = (
        "classe;jour;debut;fin;matiere;enseignant;salle\n"
        f"5A;lundi;08:00;09:00;MATHEMATIQUES;{s['teacher'].username};B12\n"
        "5A;Mardi;10:00;11:00;Mathématiques;;B14\n"
    )
    page = import_file(client, s, "edt.csv", good.encode())
    assert "2 cours importé(s)" in page
    assert TimetableSlot.objects.filter(class_group=s["class"]).count() == 2
    bad = "classe;jour;debut;fin;matiere;enseignant;salle\n9Z;lundi;08:00;07:00;;inconnu;\n"
    page = import_file(client, s, "edt.csv", bad.encode())
    assert "Import refusé" in page
    assert "ligne 2" in page and "9Z" in page and "inconnu" in page
    assert TimetableSlot.objects.filter(class_group=s["class"]).count() == 2
    client.force_login(s["student"])
    page = client.get(url(s, "timetable")).content.decode()
    assert "Lundi" in page and "08:00" in page and "B14" in page


def _slot_data(s, **changes):
    data = {
        "class_group": s["class"].pk,
        "weekday": 2,
        "start": "10:00",
        "end": "11:00",
        "subject": s["subject"].pk,
        "teacher": s["teacher"].pk,
        "room": "C3",
    }
    return {**data, **changes}


def test_timetable_entry_form_add_edit_delete(client, school):
    s = school
    client.force_login(s["admin"])
    page = client.get(url(s, "timetable_class", class_id=s["class"].pk)).content.decode()
    assert "Ajouter un cours" in page and 'Modifier<span class="sr-only">' in page
    form = client.get(url(s, "timetable_slot_new") + f"?classe={s['class'].pk}").content.decode()
    assert f'<option value="{s["class"].pk}" selected>' in form and 'type="time"' in form
    response = client.post(url(s, "timetable_slot_new"), _slot_data(s))
    assert response.status_code == 302 and response["Location"].endswith(
        f"/emploi-du-temps/classes/{s['class'].pk}/"
    )
    # on Tuesdays the fixture's own slot (today's weekday, 08:00) is on weekday 2 too
    slot = TimetableSlot.objects.get(class_group=s["class"], weekday=2, start=dt.time(10))
    assert (slot.start, slot.end, slot.room, slot.teacher, slot.subject) == (
        dt.time(10),
        dt.time(11),
        "C3",
        s["teacher"],
        s["subject"],
    )
    assert slot.establishment == s["est"]

    edit = url(s, "timetable_slot_edit", slot_id=slot.pk)
    assert 'value="C3"' in client.get(edit).content.decode()
    assert client.post(edit, _slot_data(s, room="C7", end="11:30")).status_code == 302
    slot.refresh_from_db()
    assert (slot.room, slot.end) == ("C7", dt.time(11, 30))

    client.force_login(s["student"])
    page = client.get(url(s, "timetable")).content.decode()
    assert (
        "Mardi" in page and "10:00–11:30" in page and "salle C7" in page and "Modifier" not in page
    )

    client.force_login(s["admin"])
    delete = url(s, "timetable_slot_delete", slot_id=slot.pk)
    assert "Supprimer le cours" in client.get(delete).content.decode()
    assert TimetableSlot.objects.filter(pk=slot.pk).exists()  # a GET only asks
    assert client.post(delete).status_code == 302
    assert not TimetableSlot.objects.filter(pk=slot.pk).exists()


def test_timetable_entry_form_refuses_bad_slots(client, school):
    s = school
    client.force_login(s["admin"])
    existing = s["slot"]  # 08:00–09:00 in s["class"] with s["teacher"]
    day = existing.weekday
    before = TimetableSlot.objects.count()
    cases = [
        (_slot_data(s, start="11:00", end="10:00"), "La fin du cours doit être après son début."),
        (
            _slot_data(s, weekday=day, start="08:30", end="09:30", teacher=""),
            "a déjà un cours sur ce créneau",
        ),
        (
            _slot_data(s, weekday=day, start="08:30", end="09:30", class_group=s["other_class"].pk),
            "Cet enseignant a déjà un cours sur ce créneau.",
        ),
        (_slot_data(s, weekday=9), "Sélectionnez un choix valide"),
        (_slot_data(s, class_group=""), "Ce champ est obligatoire."),
    ]
    for data, message in cases:
        response = client.post(url(s, "timetable_slot_new"), data)
        page = response.content.decode()
        assert response.status_code == 400 and message in page, message
        assert 'aria-invalid="true"' in page
    # Back to back is not an overlap; editing a slot does not collide with itself.
    assert (
        client.post(
            url(s, "timetable_slot_new"), _slot_data(s, weekday=day, start="09:00", end="10:00")
        ).status_code
        == 302
    )
    edit = url(s, "timetable_slot_edit", slot_id=existing.pk)
    assert (
        client.post(edit, _slot_data(s, weekday=day, start="08:00", end="08:55")).status_code == 302
    )
    assert TimetableSlot.objects.count() == before + 1


def test_timetable_entry_form_stays_in_its_establishment(client, school):
    s = school
    other = make_school("B", "0820010R")
    client.force_login(s["admin"])
    for field, value in (
        ("class_group", other["class"].pk),
        ("subject", other["subject"].pk),
        ("teacher", other["teacher"].pk),
    ):
        response = client.post(url(s, "timetable_slot_new"), _slot_data(s, **{field: value}))
        assert (
            response.status_code == 400
            and "Sélectionnez un choix valide" in response.content.decode()
        ), field
    # B's slot through A's address, and A's slot edited into B's class: refused, nothing moves.
    assert (
        client.post(
            url(s, "timetable_slot_edit", slot_id=other["slot"].pk), _slot_data(s)
        ).status_code
        == 404
    )
    assert client.post(url(s, "timetable_slot_delete", slot_id=other["slot"].pk)).status_code == 404
    response = client.post(
        url(s, "timetable_slot_edit", slot_id=s["slot"].pk),
        _slot_data(s, class_group=other["class"].pk),
    )
    assert response.status_code == 400
    assert TimetableSlot.objects.get(pk=s["slot"].pk).class_group == s["class"]
    assert TimetableSlot.objects.filter(pk=other["slot"].pk).exists()
    # Other profiles of A may not edit.
    for role in ("teacher", "evs", "student", "parent", "agent"):
        client.force_login(s[role])
        assert (
            client.post(url(s, "timetable_slot_new"), _slot_data(s, weekday=5)).status_code == 403
        ), role
        assert (
            client.post(url(s, "timetable_slot_delete", slot_id=s["slot"].pk)).status_code == 403
        ), role
    assert TimetableSlot.objects.filter(pk=s["slot"].pk).exists()
