"""Entry point of the `preau-manage` console script (Django's manage.py)."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "preau.settings")
    # Keep stdout for the command's report (`--json` is parsed by the ops bundle).
    if os.environ.get("PREAU_LOG_STREAM") not in ("stdout", "stderr"):
        os.environ["PREAU_LOG_STREAM"] = "stderr"
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
