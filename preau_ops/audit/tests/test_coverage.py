"""The coverage of the ANSSI reference (issue #25 item 1): the reference extracted from
ssg-debian's XCCDF, every one of its rules decided, each recommendation's status, the section
audit.json carries, and the controls' requirement ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau_ops.audit import catalogue, coverage, ssg
from preau_ops.audit.coverage import Decision

GUIDE = "https://cyber.gouv.fr/sites/default/files/document/linux_configuration-en-v2.pdf"
XCCDF = f"""<?xml version="1.0"?>
<x:Benchmark xmlns:x="http://checklists.nist.gov/xccdf/1.2" id="b">
  <x:Profile id="xccdf_org.ssgproject.content_profile_anssi_bp28_intermediary">
    <x:title>ANSSI-BP-028 (intermediary)</x:title>
    <x:select idref="xccdf_org.ssgproject.content_rule_package_audit_installed" selected="true"/>
    <x:select idref="xccdf_org.ssgproject.content_rule_partition_for_tmp" selected="true"/>
    <x:select idref="xccdf_org.ssgproject.content_rule_nis_removed" selected="false"/>
    <x:select idref="xccdf_org.ssgproject.content_group_accounts" selected="true"/>
  </x:Profile>
  <x:Group id="xccdf_org.ssgproject.content_group_accounts">
    <x:Rule id="xccdf_org.ssgproject.content_rule_package_audit_installed">
      <x:title>Ensure the audit Subsystem is Installed</x:title>
      <x:reference href="https://www.cisecurity.org/controls/">R4</x:reference>
      <x:reference href="{GUIDE}">R33</x:reference>
      <x:reference href="{GUIDE}">R073, R33</x:reference>
    </x:Rule>
    <x:Rule id="xccdf_org.ssgproject.content_rule_partition_for_tmp">
      <x:title>Ensure /tmp Located On Separate Partition</x:title>
      <x:reference href="http://www.ssi.gouv.fr/administration/bonnes-pratiques/">BP28(R12)</x:reference>
    </x:Rule>
    <x:Rule id="xccdf_org.ssgproject.content_rule_nis_removed"><x:title>nis</x:title></x:Rule>
  </x:Group>
</x:Benchmark>
"""


def test_the_profiles_selected_rules_are_extracted_with_their_anssi_ids(tmp_path: Path) -> None:
    """Only the v2.0 guide's references count (not the older guide's, nor other documents'),
    named as the controls' requirements name them."""
    path = tmp_path / "ssg.xml"
    path.write_text(XCCDF)
    assert ssg.extract(path) == {
        "profile": "anssi_bp28_intermediary",
        "title": "ANSSI-BP-028 (intermediary)",
        "rules": [
            {
                "rule": "package_audit_installed",
                "title": "Ensure the audit Subsystem is Installed",
                "anssi": ["ANSSI-BP-028 R33", "ANSSI-BP-028 R73"],
            },
            {"rule": "partition_for_tmp", "title": "Ensure /tmp Located On Separate Partition",
             "anssi": []},
        ],
    }  # fmt: skip


def test_the_kept_reference_names_its_package_suite_digest_and_numbering() -> None:
    ref = coverage.reference()
    assert ref["source"] == {
        "package": "ssg-debian",
        "version": "0.1.76-1",
        "suite": "trixie",
        "sha256": "f6880719015c16e8e221bc2503c0e5a9f83d6a09fc6f9292d3522e46bf4fc9d7",
        "datastream": "ssg-debian12-xccdf.xml",
        "numbering": ssg.NUMBERING,
    }
    assert "v2.0" in ref["source"]["numbering"]
    assert ref["profile"] == "anssi_bp28_intermediary" and len(ref["rules"]) == 220


def test_the_references_ids_are_in_the_controls_form() -> None:
    """A recommendation row and controls_by_anssi_id join on the same id."""
    ids = {i for rule in coverage.reference()["rules"] for i in rule["anssi"]}
    assert len(ids) == 27
    assert all(coverage.requirement_ids(i) == [i] for i in ids), sorted(ids)


def test_every_rule_of_the_reference_is_decided_and_nothing_else() -> None:
    rules = {r["rule"] for r in coverage.reference()["rules"]}
    assert set(coverage.RULES) == rules


def test_decisions_name_existing_controls_and_say_why_when_not_covered() -> None:
    ids = {c.id for c in catalogue.declared().values()}
    for rule, decision in coverage.RULES.items():
        assert set(decision.controls) <= ids, rule
        assert decision.status in (coverage.COVERED, coverage.NOT_APPLICABLE, coverage.NOT_COVERED)
        assert (decision.status == coverage.COVERED) == bool(decision.controls), rule
        if decision.status != coverage.COVERED:
            assert decision.note, f"{rule}: {decision.status} without a reason"


R5, R12, R80 = "ANSSI-BP-028 R5", "ANSSI-BP-028 R12", "ANSSI-BP-028 R80"
REF = {
    "rules": [
        {"rule": "a", "title": "A", "anssi": [R12]},
        {"rule": "b", "title": "B", "anssi": [R12, R5]},
        {"rule": "c", "title": "C", "anssi": [R5]},
        {"rule": "d", "title": "D", "anssi": [R80]},
        {"rule": "e", "title": "E", "anssi": []},
    ]
}


@pytest.mark.parametrize(
    ("decided", "statuses"),
    [
        (
            {"a": "covered", "b": "n/a", "c": "n/a", "d": "no", "e": "covered"},
            ["not applicable", "covered", "not covered", "covered"],
        ),
        (
            {"a": "covered", "b": "no", "c": "covered", "d": "n/a", "e": "no"},
            ["partly covered", "partly covered", "not applicable", "not covered"],
        ),
    ],
)
def test_a_recommendation_is_covered_when_each_of_its_rules_is_covered_or_not_applicable(
    decided: dict[str, str], statuses: list[str]
) -> None:
    make = {
        "covered": coverage.covered("SSH-01"),
        "n/a": coverage.not_applicable("why"),
        "no": coverage.not_covered("what"),
    }
    rows = coverage.recommendations(REF, {k: make[v] for k, v in decided.items()})
    assert [r["id"] for r in rows] == [R5, R12, R80, coverage.NO_ID]
    assert [r["status"] for r in rows] == statuses


@pytest.mark.parametrize(
    ("seen", "outcome"),
    [
        (set(), "not run"),
        ({"passed"}, "passed"),
        ({"passed", "skipped"}, "skipped"),
        ({"passed", "waived"}, "waived"),
        ({"waived", "failed"}, "failed"),
    ],
)
def test_the_outcome_of_a_recommendation_is_its_controls_worst(
    seen: set[str], outcome: str
) -> None:
    assert coverage._outcome(seen) == outcome


def test_the_section_gives_counts_outcomes_and_the_controls_anssi_ids() -> None:
    results = [
        {"control": "SSH-01", "requirement": "ANSSI-BP-028 R79, R33", "status": "passed"},
        {"control": "SSH-04", "requirement": "ANSSI-BP-028 R33", "status": "failed"},
        {"control": "HARD-01", "requirement": "ANSSI-BP-028 R9", "status": "passed"},
    ]
    section = coverage.section(results)
    assert section["reference"]["version"] == "0.1.76-1"
    assert section["reference"]["suite"] == "trixie"
    assert sum(section["counts"].values()) == len(section["recommendations"])
    rows = {r["id"]: r for r in section["recommendations"]}
    assert rows["ANSSI-BP-028 R33"]["controls"] == ["DECL-01", "DECL-02", "HARD-02", "SSH-01",
                                                     "SSH-04"]  # fmt: skip
    assert rows["ANSSI-BP-028 R33"]["outcome"] == "failed"  # SSH-04 failed
    assert rows["ANSSI-BP-028 R9"]["outcome"] == "passed"  # HARD-01
    assert rows["ANSSI-BP-028 R62"]["outcome"] == "not run"  # DECL-03 not in this run
    assert section["controls_by_anssi_id"] == {
        "ANSSI-BP-028 R9": ["HARD-01"],
        "ANSSI-BP-028 R33": ["SSH-01", "SSH-04"],
        "ANSSI-BP-028 R79": ["SSH-01"],
    }


def test_a_control_naming_a_recommendation_it_covers_no_rule_of_is_found() -> None:
    decided = {
        "a": coverage.covered("HARD-01"),
        "b": coverage.covered("HARD-01"),
        "c": coverage.not_covered("what"),
        "d": coverage.covered("DECL-03"),
        "e": coverage.not_covered("what"),
    }
    rows = coverage.recommendations(REF, decided)
    named = {R5: ["HARD-01", "SSH-01"], R12: ["HARD-01"], R80: ["DECL-03"], "ANSSI-BP-028 R9":
             ["HARD-01"]}  # fmt: skip
    # HARD-01 covers b (R5 and R12), DECL-03 d; R9 is no recommendation of this reference
    assert coverage.beyond_rules(rows, named) == {(R5, "SSH-01")}


def test_the_profiles_rules_and_the_controls_ids_agree_or_the_difference_is_explained() -> None:
    """Each control whose requirement names a recommendation of the reference covers one of
    its rules, or BEYOND_RULES says what it checks of it instead; no explanation is stale."""
    rows = coverage.recommendations(coverage.reference(), coverage.RULES)
    named = coverage.by_requirement((c.id, c.requirement) for c in catalogue.declared().values())
    assert coverage.beyond_rules(rows, named) == set(coverage.BEYOND_RULES)
    assert all(why.strip() for why in coverage.BEYOND_RULES.values())


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("ANSSI-BP-028 R9, R11, R12, R14", ["ANSSI-BP-028 R9", "ANSSI-BP-028 R11",
                                             "ANSSI-BP-028 R12", "ANSSI-BP-028 R14"]),
        ("ANSSI-BP-028 R80 (network attack surface); issue #23 item 6",
         ["ANSSI-BP-028 R80", "issue #23"]),
        ("ANSSI-BP-028 (overall hardening, informative)", ["ANSSI-BP-028"]),
        ("Accuracy (RGPD art. 5-1-d, art. 5-1-e): a member", ["RGPD art. 5-1-d",
                                                             "RGPD art. 5-1-e"]),
        ("Declared state (role monitoring)", ["declared state"]),
        ("ANSSI TLS guide; Mozilla Server Side TLS (intermediate)",
         ["ANSSI TLS guide", "Mozilla Server Side TLS"]),
        ("the 3-month limit (app/src/preau/config.py RETENTION_MAX_DAYS)",
         ["project: app/src/preau/config.py"]),
        ("Least privilege", []),
    ],
)  # fmt: skip
def test_requirement_ids_are_read_from_the_text(text: str, ids: list[str]) -> None:
    assert coverage.requirement_ids(text) == ids


def test_every_control_names_a_requirement_id() -> None:
    missing = [
        c.id for c in catalogue.declared().values() if not coverage.requirement_ids(c.requirement)
    ]
    assert missing == []


def test_a_decision_is_a_status_controls_and_a_note() -> None:
    assert coverage.covered("SSH-01", note="n") == Decision("covered", ("SSH-01",), "n")


def test_the_report_shows_the_coverage_table_in_french_and_english() -> None:
    from preau_ops.audit import report

    results = [
        {"control": "SSH-01", "title": "ssh", "requirement": "ANSSI-BP-028 R79", "host": "lb",
         "status": "passed", "evidence": [], "message": "", "duration": 0.1},
    ]  # fmt: skip
    data = {"results": results, "inventory": "lab", "hosts": ["lb"], "account": "deploy",
            "as_auditor": False, "controls": [], "started": "2026-12-05T16:00:00+0000",
            "duration": 1.0, **report.summarise(results),
            "coverage": coverage.section(results)}  # fmt: skip
    french = report.render_html(data, "fr")
    assert "Couverture du référentiel ANSSI" in french and "ssg-debian 0.1.76-1 (trixie)" in french
    assert "ANSSI-BP-028 R28" in french and "pas encore couverte" in french
    english = report.render_html(data, "en")
    assert "Coverage of the ANSSI reference" in english and "not covered yet" in english
    del data["coverage"]  # an audit.json of before
    assert "ANSSI-BP-028 R28" not in report.render_html(data, "fr")
