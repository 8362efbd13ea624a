"""The ANSSI reference the audit's coverage is measured against, extracted from a kept source:
Debian's `ssg-debian` package (SCAP Security Guide content), as Debian trixie carries it.

Bookworm's ssg-debian (0.1.65) has only Debian 11 content with the older DAT-NT28 profiles;
trixie's (0.1.76) has Debian 12 content with the ANSSI-BP-028 v2.0 profiles, whose numbering
(R1-R80) the controls' requirements cite. To regenerate, in a scratch directory:

    wget http://deb.debian.org/debian/dists/trixie/main/binary-all/Packages.xz
    wget http://deb.debian.org/debian/pool/main/s/scap-security-guide/ssg-debian_0.1.76-1_all.deb
    xzcat Packages.xz | grep -A20 '^Package: ssg-debian$' | grep -E '^(Version|SHA256):'
    sha256sum ssg-debian_0.1.76-1_all.deb   # must equal the index's SHA256
    .venv/bin/python -m preau_ops.audit.ssg ssg-debian_0.1.76-1_all.deb

writes preau_ops/audit/data/anssi-ssg-debian.json: the package, its version, the suite it came
from, the .deb's SHA-256, the data stream and profile used, and each of the profile's rules
with its title and the ANSSI-BP-028 ids its XCCDF references name ("ANSSI-BP-028 R50", the form
the controls' requirements give: coverage.requirement_ids). coverage.py maps them to the
controls.
"""

from __future__ import annotations

import hashlib
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
DATASTREAM = "ssg-debian12-xccdf.xml"  # the newest Debian content the package carries
PROFILE = "anssi_bp28_intermediary"  # the intermediate level
SUITE = "trixie"  # the Debian suite whose package this is (bookworm's is older: above)
ANSSI_GUIDE = "linux_configuration-en-v2.pdf"  # the references' href names the v2.0 guide
DATA_FILE = Path(__file__).parent / "data" / "anssi-ssg-debian.json"
NUMBERING = (
    "ANSSI-BP-028 v2.0 (R1-R80), the numbering the controls' requirements cite: SSG references "
    "the v2.0 guide's Rn, named here ANSSI-BP-028 Rn"
)


def anssi_ids(references: list[str]) -> list[str]:
    """'ANSSI-BP-028 R5'… from the texts of a rule's references to the v2.0 guide ('R5',
    maybe several in one text), in order, once; zero-padded numbers read as plain ones."""
    found: list[str] = []
    for text in references:
        for number in re.findall(r"\bR0*(\d+)\b", text):
            rid = f"ANSSI-BP-028 R{number}"
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
            if (ref.get("href") or "").endswith("/" + ANSSI_GUIDE)
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
            "suite": SUITE,
            "sha256": hashlib.sha256(deb.read_bytes()).hexdigest(),
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
