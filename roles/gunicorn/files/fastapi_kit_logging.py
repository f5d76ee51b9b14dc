"""The log formatters of the app's web servers (fastapi-kit's gunicorn role), shared by
Gunicorn and uvicorn through logging.json beside this directory: every line as one JSON
object (KitJsonFormatter) or as text (KitTextFormatter). Fields a record carries besides
the standard ones (the app's request_id, an access line's method, route, status...)
become JSON fields, or key=value pairs after a text line.
"""

import datetime
import json
import logging

# color_message: Uvicorn's copy of a message with terminal colours.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "taskName", "color_message"}


def _extra(record):
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class KitJsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "time": datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        # Uvicorn's access records: (client, method, path, HTTP version, status).
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            entry.update(zip(("client", "method", "path", "http_version", "status"), record.args))
        for key, value in _extra(record).items():
            entry.setdefault(key, value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class KitTextFormatter(logging.Formatter):
    def __init__(self):
        super().__init__("%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%S%z")

    def format(self, record):
        line = super().format(record)
        extra = " ".join("%s=%s" % (k, json.dumps(v, default=str)) for k, v in sorted(_extra(record).items()))
        return line + " " + extra if extra else line
