"""Reports of `deploy.py audit`: the score and a self-contained HTML page (Jinja2, no external
asset), in French or English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    },
}


Result = dict[str, Any]  # one control on one host, as catalogue.record writes it


def summarise(results: list[Result]) -> dict[str, Any]:
    """Counts and score (passed / (passed + failed), skipped controls left out)."""
    counts = {
        s: sum(1 for r in results if r["status"] == s) for s in ("passed", "failed", "skipped")
    }
    judged = counts["passed"] + counts["failed"]
    return {"counts": counts, "score": round(100 * counts["passed"] / judged, 1) if judged else 0.0}


def _by_host(results: list[Result]) -> dict[str, list[Result]]:
    """Results by host, hosts in name order and the platform's last."""
    grouped: dict[str, list[Result]] = {}
    for result in sorted(results, key=lambda r: (r["host"] == "platform", r["host"], r["control"])):
        grouped.setdefault(result["host"], []).append(result)
    return grouped


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
        extras=extras,
    )
