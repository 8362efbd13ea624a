"""The ANSSI reference the audit's coverage is measured against, extracted from a kept source:
Debian's `ssg-debian` package (SCAP Security Guide content).

    apt-get download ssg-debian   # in a scratch directory
    .venv/bin/python -m preau_ops.audit.ssg ssg-debian_0.1.65-1_all.deb

writes preau_ops/audit/data/anssi-ssg-debian.json: the package and its version, the data
stream and profile used, and each of the profile's rules with its title and the ANSSI ids its
XCCDF references name (BP28(R15), NT007(R17)…). coverage.py maps them to the controls.

What ssg-debian 0.1.65 (bookworm) carries: Debian 10 and 11 content only, whose ANSSI profiles
are the older DAT-NT28 ones (minimal, average = intermediate, high, restrictive); their BP28
references follow that guide's numbering, not ANSSI-BP-028 v2.0's R1-R80 which the controls'
requirements cite. The data file says so (`numbering`).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
CONTENT = "usr/share/xml/scap/ssg/content"
DATASTREAM = "ssg-debian11-xccdf.xml"  # the newest Debian content the package carries
PROFILE = "anssi_np_nt28_average"  # the intermediate level
ANSSI_HREF = "ssi.gouv.fr"
DATA_FILE = Path(__file__).parent / "data" / "anssi-ssg-debian.json"
NUMBERING = (
    "BP28(Rn) ids as SSG 0.1.65 references them: the DAT-NT28 guide's numbering (ANSSI-BP-028 "
    "before v2.0), not v2.0's R1-R80 which the controls' requirements cite; NT007, NT12, NT012 "
    "and NT28 ids name other ANSSI notes, kept as SSG writes them"
)


def anssi_ids(references: list[str]) -> list[str]:
    """'BP28(R5)', 'NT007(R02)'… from the text of a rule's ANSSI references, in order, once;
    zero-padded numbers read as plain ones (R02 is R2)."""
    found: list[str] = []
    for text in references:
        for doc, number in re.findall(r"([A-Z]+\d+)\(R0*(\d+)\)", text):
            rid = f"{doc}(R{number})"
            if rid not in found:
                found.append(rid)
    return found


def extract(xccdf: Path, profile: str = PROFILE) -> dict[str, Any]:
    """The profile's title and its selected rules: id, title, ANSSI ids."""
    root = ET.parse(xccdf).getroot()
    rules = {r.get("id"): r for r in root.iter(f"{XCCDF}Rule")}
    wanted = f"xccdf_org.ssgproject.content_profile_{profile}"
    node = next((p for p in root.iter(f"{XCCDF}Profile") if p.get("id") == wanted), None)
    if node is None:
        raise SystemExit(f"{xccdf.name}: no profile {profile}")
    selected = []
    for select in node.findall(f"{XCCDF}select"):
        rule = rules.get(select.get("idref"))
        if rule is None or select.get("selected") != "true":
            continue  # groups are selected too: only rules count
        references = [
            ref.text or ""
            for ref in rule.findall(f"{XCCDF}reference")
            if ANSSI_HREF in (ref.get("href") or "")
        ]
        selected.append(
            {
                "rule": str(rule.get("id")).removeprefix("xccdf_org.ssgproject.content_rule_"),
                "title": (rule.findtext(f"{XCCDF}title") or "").strip(),
                "anssi": anssi_ids(references),
            }
        )
    return {
        "profile": profile,
        "title": (node.findtext(f"{XCCDF}title") or "").strip(),
        "rules": selected,
    }


def from_package(deb: Path) -> dict[str, Any]:
    """The reference as the .deb carries it (dpkg-deb reads it: no installation)."""
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    about = dict(line.split(": ", 1) for line in fields.splitlines() if ": " in line)
    with tempfile.TemporaryDirectory(prefix="preau-ssg-") as tmp:
        subprocess.run(["dpkg-deb", "-x", str(deb), tmp], check=True)
        reference = extract(Path(tmp) / CONTENT / DATASTREAM)
    return {
        "source": {
            "package": about["Package"],
            "version": about["Version"],
            "datastream": DATASTREAM,
            "numbering": NUMBERING,
        },
        **reference,
    }


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].endswith(".deb"):
        print(__doc__, file=sys.stderr)
        return 2
    reference = from_package(Path(argv[0]))
    DATA_FILE.parent.mkdir(exist_ok=True)
    DATA_FILE.write_text(json.dumps(reference, indent=1, ensure_ascii=False) + "\n")
    ids = {i for rule in reference["rules"] for i in rule["anssi"]}
    print(f"{DATA_FILE}: {len(reference['rules'])} rules, {len(ids)} ANSSI ids")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
