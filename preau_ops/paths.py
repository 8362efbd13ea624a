"""Where things live on the controller."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STATE_DIR = ROOT / ".lab"  # per-machine lab state (git-ignored)
INVENTORIES = ROOT / "inventories"
LAB_INVENTORY = INVENTORIES / "lab"
ROLES = ROOT / "roles"
PLAYBOOKS = ROOT / "playbooks"
ARTIFACTS = ROOT / "artifacts"  # reports, screenshots, logs of runs (git-ignored)
