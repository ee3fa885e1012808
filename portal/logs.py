"""Structured JSON logs with a request id.

Every request gets an id: the ``X-Request-ID`` a reverse proxy sent (when it
looks like one), else a fresh one. It is returned in the response header and
added to every log record written while the request runs, so one request can
be followed through the proxy's, gunicorn's and the portal's logs.
"""

from __future__ import annotations

import logging
import re
import sys
import uuid

from flask import Flask, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")

#: gunicorn access log line as JSON, with the request id the portal answered with.
ACCESS_LOG_FORMAT = (
    '{"time":"%(t)s","remote":"%(h)s","request":"%(r)s","status":%(s)s,'
    '"bytes":%(b)s,"ms":%(M)s,"request_id":"%({x-request-id}o)s"}'
)


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` and ``path`` to records made inside a request."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            record.request_id = getattr(g, "request_id", None)
            record.path = request.path
        return True


def configure(app: Flask) -> None:
    """Log JSON lines to stderr (unless ``LOG_JSON`` is false) and attach
    request ids. Safe to call for several apps in one process."""
    root = logging.getLogger("portal")
    if app.config.get("LOG_JSON", True) and not any(getattr(h, "_portal", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
        handler.addFilter(RequestIdFilter())
        handler._portal = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
        root.propagate = False

    @app.before_request
    def _assign_request_id():
        incoming = request.headers.get("X-Request-ID", "")
        g.request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex

    @app.after_request
    def _return_request_id(response):
        rid = getattr(g, "request_id", None)
        if rid:
            response.headers["X-Request-ID"] = rid
        return response
