"""The coverage of the ANSSI reference (issue #25 item 1): the reference extracted from
ssg-debian's XCCDF, every one of its rules decided, each recommendation's status, the section
audit.json carries, and the controls' requirement ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from preau_ops.audit import catalogue, coverage, ssg
from preau_ops.audit.coverage import Decision

XCCDF = """<?xml version="1.0"?>
<x:Benchmark xmlns:x="http://checklists.nist.gov/xccdf/1.2" id="b">
  <x:Profile id="xccdf_org.ssgproject.content_profile_anssi_np_nt28_average">
    <x:title>Profile for ANSSI DAT-NT28 Average (Intermediate) Level</x:title>
    <x:select idref="xccdf_org.ssgproject.content_rule_sshd_disable_root_login" selected="true"/>
    <x:select idref="xccdf_org.ssgproject.content_rule_partition_for_tmp" selected="true"/>
    <x:select idref="xccdf_org.ssgproject.content_rule_nis_removed" selected="false"/>
    <x:select idref="xccdf_org.ssgproject.content_group_accounts" selected="true"/>
  </x:Profile>
  <x:Group id="xccdf_org.ssgproject.content_group_accounts">
    <x:Rule id="xccdf_org.ssgproject.content_rule_sshd_disable_root_login">
      <x:title>Disable SSH Root Login</x:title>
      <x:reference href="https://www.cisecurity.org/controls/">5.2.8</x:reference>
      <x:reference href="http://www.ssi.gouv.fr/administration/bonnes-pratiques/">BP28(R19),NT007(R021)</x:reference>
    </x:Rule>
    <x:Rule id="xccdf_org.ssgproject.content_rule_partition_for_tmp">
      <x:title>Ensure /tmp Located On Separate Partition</x:title>
    </x:Rule>
    <x:Rule id="xccdf_org.ssgproject.content_rule_nis_removed"><x:title>nis</x:title></x:Rule>
  </x:Group>
</x:Benchmark>
"""


def test_the_profiles_selected_rules_are_extracted_with_their_anssi_ids(tmp_path: Path) -> None:
    path = tmp_path / "ssg.xml"
    path.write_text(XCCDF)
    assert ssg.extract(path) == {
        "profile": "anssi_np_nt28_average",
        "title": "Profile for ANSSI DAT-NT28 Average (Intermediate) Level",
        "rules": [
            {
                "rule": "sshd_disable_root_login",
                "title": "Disable SSH Root Login",
                "anssi": ["BP28(R19)", "NT007(R21)"],
            },
            {"rule": "partition_for_tmp", "title": "Ensure /tmp Located On Separate Partition",
             "anssi": []},
        ],
    }  # fmt: skip


def test_the_kept_reference_names_its_package_version_and_numbering() -> None:
    ref = coverage.reference()
    assert ref["source"]["package"] == "ssg-debian"
    assert ref["source"]["version"] == "0.1.65-1"
    assert "not v2.0" in ref["source"]["numbering"]
    assert ref["profile"] == "anssi_np_nt28_average" and len(ref["rules"]) == 45


def test_every_rule_of_the_reference_is_decided_and_nothing_else() -> None:
    rules = {r["rule"] for r in coverage.reference()["rules"]}
    assert set(coverage.RULES) == rules


def test_decisions_name_existing_controls_and_say_why_when_not_covered() -> None:
    ids = {c.id for c in catalogue.declared().values()}
    for rule, decision in coverage.RULES.items():
        assert set(decision.controls) <= ids, rule
        assert (decision.status == coverage.COVERED) == bool(decision.controls), rule
        if decision.status != coverage.COVERED:
            assert decision.note, f"{rule}: {decision.status} without a reason"


REF = {
    "rules": [
        {"rule": "a", "title": "A", "anssi": ["BP28(R5)"]},
        {"rule": "b", "title": "B", "anssi": ["BP28(R5)", "BP28(R12)"]},
        {"rule": "c", "title": "C", "anssi": ["BP28(R12)"]},
        {"rule": "d", "title": "D", "anssi": ["NT007(R1)"]},
        {"rule": "e", "title": "E", "anssi": []},
    ]
}


@pytest.mark.parametrize(
    ("decided", "statuses"),
    [
        (
            {"a": "covered", "b": "n/a", "c": "n/a", "d": "no", "e": "covered"},
            ["covered", "not applicable", "not covered", "covered"],
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
    assert [r["id"] for r in rows] == ["BP28(R5)", "BP28(R12)", "NT007(R1)", coverage.NO_ID]
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
    assert section["reference"]["version"] == "0.1.65-1"
    assert sum(section["counts"].values()) == len(section["recommendations"])
    rows = {r["id"]: r for r in section["recommendations"]}
    assert rows["BP28(R19)"]["controls"] == ["SSH-01", "SSH-04"]
    assert rows["BP28(R19)"]["outcome"] == "failed"  # SSH-04 failed
    assert rows["BP28(R23)"]["outcome"] == "passed"  # HARD-01
    assert rows["BP28(R15)"]["outcome"] == "not run"  # APT-01 not in this run
    assert section["controls_by_anssi_id"] == {
        "ANSSI-BP-028 R9": ["HARD-01"],
        "ANSSI-BP-028 R33": ["SSH-01", "SSH-04"],
        "ANSSI-BP-028 R79": ["SSH-01"],
    }


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
    assert "Couverture du référentiel ANSSI" in french and "ssg-debian 0.1.65-1" in french
    assert "BP28(R19)" in french and "pas encore couverte" in french
    english = report.render_html(data, "en")
    assert "Coverage of the ANSSI reference" in english and "not covered yet" in english
    del data["coverage"]  # an audit.json of before
    assert "BP28(R19)" not in report.render_html(data, "fr")
