"""Helpers for text that is stored in Dutch and translated only when shown
(issue #8): notifications, revision notes. What is written to the database
or to an exported file stays Dutch (the msgid); a page shows it in the
reader's language.

``N_`` marks a message for extraction (``make translations``; ``babel.cfg``)
without translating it; ``stored_text`` matches a stored text against such
forms and translates it, keeping the parts (titles, names, dates) as stored.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache


def extract_dict_values(fileobj, keywords, comment_tags, options):
    """A Babel extractor (``babel.cfg``) for a module that is a table of
    labels, such as ``portal/services/audit_labels.py``: every non-empty
    string value of a dict literal is a message. Yields Babel's
    ``(lineno, funcname, message, comments)``."""
    import ast

    tree = ast.parse(fileobj.read().decode("utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for value in node.values:
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip():
                    yield value.lineno, None, value.value, []


def N_(message: str) -> str:  # noqa: N802 (the gettext convention)
    """Return ``message`` unchanged; only marks it for extraction."""
    return message


@lru_cache(maxsize=512)
def _pattern(form: str) -> re.Pattern:
    """``"Gepubliceerd: %(title)s"`` -> a regex with a named group per
    placeholder, matching the whole text."""
    parts = re.split(r"%\((\w+)\)[sd]", form)
    regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
    return re.compile(regex + r"\Z", re.S)


def stored_text(text: str | None, forms: Iterable[str]) -> str:
    """``text`` (stored in Dutch) in the interface language: the first of
    ``forms`` (msgids with ``%(name)s`` placeholders) that matches the whole
    text is translated with the matched parts filled in; a text matching no
    form comes back as stored."""
    from flask_babel import gettext

    text = text or ""
    for form in forms:
        match = _pattern(form).match(text)
        if match:
            return gettext(form, **match.groupdict())
    return text
