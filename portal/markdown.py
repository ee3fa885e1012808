"""Markdown -> safe HTML, and Markdown -> plain text for the search index.

One extension list and one nh3 allow-list for the whole portal.
Python-Markdown sanitises nothing itself: raw HTML in the source passes
through it, so every output goes through ``nh3.clean`` with an explicit
allow-list and only the URL schemes http, https and mailto (relative links
stay allowed).
"""

from __future__ import annotations

import html
import re
import threading
from collections.abc import Callable

import markdown as _markdown
import nh3

EXTENSIONS = ["extra", "sane_lists", "pymdownx.superfences"]

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p",
    "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th",
    "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
    "code": {"class"},
    "div": {"class"},
    "span": {"class"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"},
}
URL_SCHEMES = {"http", "https", "mailto"}

# A link to another file of the library: ../lessons/x.md, practices/y.md, x.md#part
_LIBRARY_LINK = re.compile(
    r"^(?:\./)?(?:\.\./)?(?:(?P<folder>practices|profiles|lessons)/)?(?P<slug>[a-z0-9-]+)\.md(?P<anchor>#[\w-]*)?$"
)
_FOLDER_TYPE = {"practices": "practice", "profiles": "profile", "lessons": "lesson"}


def library_link_target(href: str, default_type: str) -> tuple[str, str, str] | None:
    """Parse a relative link between content files.

    Returns ``(type, slug, anchor)`` for ``../lessons/x.md``-style links
    (a bare ``x.md`` is of ``default_type``), or ``None`` for any other href.
    """
    m = _LIBRARY_LINK.match(href.strip())
    if not m:
        return None
    item_type = _FOLDER_TYPE.get(m.group("folder") or "", default_type)
    return item_type, m.group("slug"), m.group("anchor") or ""


_local = threading.local()

#: Above these counts a text is not parsed as Markdown (see ``render``); real
#: practices and lessons stay far below them.
MAX_OPEN_BRACKETS = 1000
MAX_INLINE_MARKERS = 20000


def _pathological(text: str) -> bool:
    if text.count("[") > MAX_OPEN_BRACKETS:
        return True
    return sum(text.count(c) for c in "[]&*_`<!") > MAX_INLINE_MARKERS


def _converter() -> _markdown.Markdown:
    """This thread's Markdown converter: building one loads every extension,
    which costs more than converting a typical item, so it is made once per
    thread and ``reset()`` before each use (Python-Markdown's documented way
    to reuse an instance)."""
    md = getattr(_local, "md", None)
    if md is None:
        md = _local.md = _markdown.Markdown(extensions=EXTENSIONS, output_format="html")
    return md


def render(text: str, link_resolver: Callable[[str], str | None] | None = None) -> str:
    """Render Markdown ``text`` to sanitised HTML.

    ``link_resolver(href)`` may return a replacement URL for an href (used to
    turn ``../lessons/x.md`` into the item's page) or ``None`` to keep it.
    """
    text = text or ""
    if _pathological(text):
        # Python-Markdown's inline parsing is quadratic in the number of
        # inline markers in a paragraph ("[" * 30000 takes minutes): such a
        # text is shown as plain paragraphs instead of tying up a worker.
        return "".join(f"<p>{html.escape(p)}</p>" for p in re.split(r"\n\s*\n", text) if p.strip())
    md = _converter()
    raw = md.reset().convert(text)
    return nh3.clean(
        raw,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
        attribute_filter=_attribute_filter(link_resolver) if link_resolver else None,
        strip_comments=True,
    )


def _attribute_filter(resolver: Callable[[str], str | None]):
    def attribute_filter(tag: str, attr: str, value: str) -> str | None:
        if tag == "a" and attr == "href":
            replacement = resolver(value)
            return replacement if replacement is not None else value
        return value

    return attribute_filter


_TAG = re.compile(r"<[^>]+>")
_BLOCK_TAG = re.compile(
    r"</?(p|li|ul|ol|h\d|tr|td|th|table|thead|tbody|pre|blockquote|dd|dt|dl|div|br|hr|img)\b[^>]*>"
)
_SPACE = re.compile(r"\s+")


def plain_text(text: str) -> str:
    """Markdown -> plain text (for indexing and snippets): rendered, sanitised,
    tags removed, entities decoded, whitespace folded."""
    rendered = render(text)
    # Block tags separate words; inline tags (a, em, strong, code) do not, so
    # "<a>sleutelfiguren</a>." stays "sleutelfiguren." for snippets.
    rendered = _BLOCK_TAG.sub(" ", rendered)
    return _SPACE.sub(" ", html.unescape(_TAG.sub("", rendered))).strip()
