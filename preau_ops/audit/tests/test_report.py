"""The audit's reports: the score and the HTML page, from results written here."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from preau_ops.audit import report


def result(
    control: str, host: str, status: str, *evidence: str, message: str = ""
) -> dict[str, Any]:
    return {"control": control, "title": f"title of {control}", "requirement": "ANSSI-BP-028 R80",
            "host": host, "status": status, "evidence": list(evidence), "message": message,
            "duration": 0.1}  # fmt: skip


RESULTS = [
    result("SSH-01", "lb", "passed", "permitrootlogin no"),
    result("FW-01", "db", "failed", "input policy: accept", message="input policy is accept"),
    result("DRIFT-01", "platform", "passed", "converge --check: 0 change(s)"),
    result("LYNIS-01", "app1", "skipped", message="no Lynis report on the host yet"),
    result("SSH-01", "app1", "passed", "<script>alert(1)</script>"),
]


def data(results: list[dict[str, Any]]) -> dict[str, Any]:
    return {"results": results, "inventory": "lab", "hosts": ["lb", "db", "app1"],
            "account": "auditor", "as_auditor": True, "controls": [],
            "started": "2026-12-04T17:00:00+0000", "duration": 12.5,
            **report.summarise(results)}  # fmt: skip


def test_the_score_leaves_skipped_controls_out() -> None:
    assert report.summarise(RESULTS) == {
        "counts": {"passed": 3, "failed": 1, "waived": 0, "skipped": 1},
        "score": 75.0,
    }
    assert report.summarise([RESULTS[3]])["score"] == 0.0  # nothing judged
    assert report.summarise([])["counts"] == {"passed": 0, "failed": 0, "waived": 0, "skipped": 0}


class Text(HTMLParser):
    """The page's text and its script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def parsed(page: str) -> Text:
    text = Text()
    text.feed(page)
    return text


def test_the_french_page_names_the_findings_and_escapes_the_evidence() -> None:
    page = report.render_html(data(RESULTS))
    assert page.startswith("<!DOCTYPE html>") and '<html lang="fr">' in page
    seen = parsed(page)
    assert "Audit de conformité Préau" in seen.text
    assert "75.0 %" in " ".join(seen.text)
    assert "input policy is accept" in seen.text  # the finding, with its reason
    assert "<script>alert(1)</script>" in seen.text and seen.scripts == 0  # text, not markup
    assert "<link" not in page and " src=" not in page  # self-contained: no external asset


def test_hosts_in_name_order_and_the_platform_last() -> None:
    page = report.render_html(data(RESULTS))
    anchors = [page.index(f'href="#host-{name}"') for name in ("app1", "db", "lb", "platform")]
    assert anchors == sorted(anchors)


def test_the_english_page() -> None:
    seen = parsed(report.render_html(data(RESULTS), "en"))
    assert "Préau compliance audit" in seen.text and "Findings" in seen.text


def test_no_finding() -> None:
    passed = [r for r in RESULTS if r["status"] != "failed"]
    assert "Aucun écart." in parsed(report.render_html(data(passed))).text


WAIVED = result("SSH-01", "db", "waived", message="passwordauthentication is yes") | {
    "waiver": {"hosts": "db", "justification": "legacy SFTP client", "accepted_by": "RSSI",
               "expires": "2027-03-31"},
    "commands": [{"command": "db$ sshd -T", "rc": 0, "output": "passwordauthentication yes"}],
}  # fmt: skip
SINCE = {
    "previous": "2026-12-03T17:00:00+0000",
    "new_failures": [{"control": "FW-01", "host": "db", "title": "t", "status": "failed",
                      "message": "input policy is accept", "before": "passed"}],
    "fixed": [], "changed": [], "new_hosts": ["app1"], "hosts_gone": [], "new_controls": [],
    "controls_gone": ["TLS-01"],
    "operations": {"entries": [{"seq": 7, "command": "patch", "operator": "alice",
                                "start": "2026-12-04T09:00:00+00:00", "outcome": "ok",
                                "detail": ""}]},
}  # fmt: skip


def test_summary_then_since_last_time_then_per_control_then_per_host() -> None:
    page = report.render_html(data([*RESULTS, WAIVED]) | {"since": SINCE}, "en")
    order = [page.index(f'id="{anchor}"') for anchor in
             ("summary", "since", "by-control", "host-app1")]  # fmt: skip
    assert order == sorted(order)
    text = " ".join(parsed(page).text)
    assert "1 waived" in text and "1 fail" in text  # the summary counts waived apart
    assert "Waived by RSSI until 2027-03-31: legacy SFTP client" in text
    assert "passwordauthentication is yes" in text  # the original message kept
    assert "New failures (1)" in text and "before" in text and "app1" in text
    assert "patch" in text and "alice" in text  # the operations in between
    assert "db$ sshd -T" in text  # the commands a control ran, with their output


def test_since_last_time_in_french_first_audit_and_an_unreadable_log() -> None:
    first = parsed(report.render_html(data(RESULTS) | {"since": {"previous": None}})).text
    assert "Premier audit de cet inventaire : rien à comparer." in first
    unread = SINCE | {"operations": {"entries": None, "error": "the operations log could not "
                                     "be read: ops unreachable"}}  # fmt: skip
    text = " ".join(parsed(report.render_html(data(RESULTS) | {"since": unread})).text)
    assert "Depuis le dernier audit" in text and "ops unreachable" in text
    assert "Nouveaux écarts (1)" in text
