"""Reports of `deploy.py audit`: the score and a self-contained HTML page (Jinja2, no external
asset), in French or English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .catalogue import STATUSES

TEMPLATES = Path(__file__).parent / "templates"

WORDS = {
    "fr": {
        "title": "Audit de conformité Préau",
        "score": "Score",
        "passed": "conforme",
        "failed": "non conforme",
        "skipped": "non vérifié",
        "control": "Contrôle",
        "requirement": "Exigence",
        "evidence": "Constats",
        "status": "Résultat",
        "host": "Serveur",
        "summary": "Synthèse",
        "by_host": "Par serveur",
        "inventory": "Inventaire",
        "account": "Compte",
        "started": "Date",
        "duration": "Durée",
        "controls_run": "contrôles exécutés",
        "platform": "plateforme",
        "auditor": "auditeur (lecture seule)",
        "admin": "administrateur",
        "failures": "Écarts",
        "none": "Aucun écart.",
        "skip_note": "Non vérifié : le contrôle n'a pas pu être mené (raison indiquée), il ne compte "
        "ni comme conforme ni comme non conforme.",
        "lynis": "Indice de durcissement Lynis",
        "ssh": "Synthèse SSH (algorithmes)",
        "waived": "dérogation",
        "waived_note": "Dérogation : un écart accepté (justification, par qui, jusqu'à quand), "
        "compté à part : ni conforme ni non conforme.",
        "waiver": "Dérogation accordée par {by} jusqu'au {until} : {why}",
        "waiver_expired": "Dérogation expirée le {until} (accordée par {by})",
        "waivers": "Dérogations déclarées",
        "hosts_word": "Serveurs",
        "justification": "Justification",
        "accepted_by": "Acceptée par",
        "expires": "Expire le",
        "since": "Depuis le dernier audit",
        "since_first": "Premier audit de cet inventaire : rien à comparer.",
        "since_previous": "Comparé à l'audit du {when}.",
        "new_failures": "Nouveaux écarts",
        "fixed": "Corrigés",
        "changed": "Autres changements de résultat",
        "new_hosts": "Nouveaux serveurs",
        "hosts_gone": "Serveurs absents de cet audit",
        "new_controls": "Nouveaux contrôles",
        "controls_gone": "Contrôles absents de cet audit",
        "nothing": "aucun",
        "before": "avant",
        "operations": "Opérations entre les deux audits (journal des opérations)",
        "no_operation": "Aucune opération.",
        "command": "Commande",
        "operator": "Opérateur",
        "outcome": "Issue",
        "by_control": "Par contrôle",
        "hosts_failing": "Serveurs en écart",
        "commands_run": "Commandes exécutées ({n})",
    },
    "en": {
        "title": "Préau compliance audit",
        "score": "Score",
        "passed": "pass",
        "failed": "fail",
        "skipped": "not verified",
        "control": "Control",
        "requirement": "Requirement",
        "evidence": "Evidence",
        "status": "Result",
        "host": "Host",
        "summary": "Summary",
        "by_host": "By host",
        "inventory": "Inventory",
        "account": "Account",
        "started": "Date",
        "duration": "Duration",
        "controls_run": "controls run",
        "platform": "platform",
        "auditor": "auditor (read-only)",
        "admin": "administrator",
        "failures": "Findings",
        "none": "No finding.",
        "skip_note": "Not verified: the control could not be carried out (reason given); it counts "
        "neither as a pass nor as a fail.",
        "lynis": "Lynis hardening index",
        "ssh": "SSH summary (algorithms)",
        "waived": "waived",
        "waived_note": "Waived: an accepted deviation (justification, by whom, until when), "
        "counted apart: neither a pass nor a fail.",
        "waiver": "Waived by {by} until {until}: {why}",
        "waiver_expired": "Waiver expired on {until} (accepted by {by})",
        "waivers": "Declared waivers",
        "hosts_word": "Hosts",
        "justification": "Justification",
        "accepted_by": "Accepted by",
        "expires": "Expires",
        "since": "Since the last audit",
        "since_first": "First audit of this inventory: nothing to compare with.",
        "since_previous": "Compared with the audit of {when}.",
        "new_failures": "New failures",
        "fixed": "Fixed",
        "changed": "Other changes of result",
        "new_hosts": "New hosts",
        "hosts_gone": "Hosts not in this audit",
        "new_controls": "New controls",
        "controls_gone": "Controls not in this audit",
        "nothing": "none",
        "before": "before",
        "operations": "Operations between the two audits (operations log)",
        "no_operation": "No operation.",
        "command": "Command",
        "operator": "Operator",
        "outcome": "Outcome",
        "by_control": "By control",
        "hosts_failing": "Hosts failing",
        "commands_run": "Commands run ({n})",
    },
}


Result = dict[str, Any]  # one control on one host, as catalogue.record writes it


def summarise(results: list[Result]) -> dict[str, Any]:
    """Counts and score (passed / (passed + failed): waived failures and skipped controls are
    shown apart and left out)."""
    counts = {s: sum(1 for r in results if r["status"] == s) for s in STATUSES}
    judged = counts["passed"] + counts["failed"]
    return {"counts": counts, "score": round(100 * counts["passed"] / judged, 1) if judged else 0.0}


def _by_host(results: list[Result]) -> dict[str, list[Result]]:
    """Results by host, hosts in name order and the platform's last."""
    grouped: dict[str, list[Result]] = {}
    for result in sorted(results, key=lambda r: (r["host"] == "platform", r["host"], r["control"])):
        grouped.setdefault(result["host"], []).append(result)
    return grouped


def by_control(results: list[Result]) -> list[dict[str, Any]]:
    """One row a control, in id order: its counts and the hosts where it failed."""
    grouped: dict[str, list[Result]] = {}
    for result in sorted(results, key=lambda r: (r["control"], r["host"])):
        grouped.setdefault(result["control"], []).append(result)
    return [
        {
            "id": control,
            "title": items[0].get("title", ""),
            "requirement": items[0].get("requirement", ""),
            "failing": [r["host"] for r in items if r["status"] == "failed"],
            **summarise(items),
        }
        for control, items in grouped.items()
    ]


def render_html(data: dict[str, Any], lang: str = "fr") -> str:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    template = env.get_template("report.html.j2")
    results = data["results"]
    grouped = _by_host(results)
    hosts = [
        {"name": name, "results": items, **summarise(items)} for name, items in grouped.items()
    ]
    extras = {
        "lynis": {r["host"]: r for r in results if r["control"] == "LYNIS-01"},
        "ssh": {r["host"]: r for r in results if r["control"] == "SSH-03"},
    }
    return template.render(
        data=data,
        hosts=hosts,
        t=WORDS.get(lang, WORDS["fr"]),
        lang=lang,
        failures=[r for r in results if r["status"] == "failed"],
        waived=[r for r in results if r["status"] == "waived"],
        controls=by_control(results),
        since=data.get("since") or {},
        extras=extras,
    )
