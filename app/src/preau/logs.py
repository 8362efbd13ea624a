"""Structured logs: one JSON object per line on stdout (collected by journald)."""

import json
import logging
import re
from datetime import UTC, datetime

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
# Paths whose rest is a secret, written masked in every line (the access line's path, Django's
# error line and its request): the timetable's iCalendar feed (preau.timetable.feed). The nginx
# role masks them in its access log too.
SECRET_PATHS = re.compile(r"(/calendrier/)[^\s'\"]*")


def masked(text: str) -> str:
    return SECRET_PATHS.sub(r"\1…", text)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": masked(record.getMessage()),
        }
        # Fields passed with logger.info(..., extra={...})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                if isinstance(value, (int, float, bool, type(None))):
                    entry[key] = value
                else:
                    entry[key] = masked(str(value))
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)
