"""Internationalisation (issue #8): Dutch by default, complete English.

* Lint: every text node (and every user-facing attribute: ``title``, ``alt``,
  ``placeholder``, ``aria-label``) with a letter in every template is inside a
  translation call (``_()``, ``gettext``, ``ngettext``, ``{% trans %}``), found
  with Jinja's own lexer (``UNWRAPPED`` is empty: every template is checked).
  Likewise every ``flash()`` and domain error message in Python, with the
  ``ast`` module (``PY_UNWRAPPED``: the JSON API and the follow command only).
* The catalog: the committed ``messages.mo`` equals a fresh compile of
  ``messages.po``, and every msgid extracted from the code (``babel.cfg``) has
  a non-empty English translation.
* The language switch (POST + CSRF, a cookie), ``<html lang>``, English pages
  of each main type without common Dutch interface words, dates in English.

Run ``python tests/test_i18n.py`` to list the unwrapped text per template.
"""

from __future__ import annotations

import io
import re
from datetime import date
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytestmark = pytest.mark.once  # templates and catalog: engine-independent, runs once (tests/conftest.py)

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "portal" / "templates"
CATALOG = ROOT / "portal" / "translations" / "en" / "LC_MESSAGES"

#: Templates not checked: none (every template is wrapped, issue #8). A
#: template prefix added here is skipped by the lint below.
UNWRAPPED: tuple[str, ...] = ()

#: Attributes whose values a visitor reads or hears.
TEXT_ATTRIBUTES = {"title", "alt", "placeholder", "aria-label"}
#: Text that is the same in every language (units, names, codes).
NEUTRAL = {"API", "kB", "UTC", "RSS", "Atom", "CSV", "iCal", "ICS", "Markdown", "PDF", "ODT", "DOCX",
           "PNG", "JPEG", "svg", "SVG", "English", "Nederlands"}
#: What stands in for an expression or statement: spaces around it keep a
#: tag parseable when an ``{% if %}`` adds an attribute (``<tr{% if x %} ...``).
MARK = " \x00 "
#: Elements whose text is code, not language.
SKIPPED_TAGS = ("script", "style", "code")


class _Text(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in SKIPPED_TAGS:
            self._skip += 1
        for name, value in attrs:
            if name in TEXT_ATTRIBUTES and value:
                self._check(value)

    def handle_endtag(self, tag):
        if tag in SKIPPED_TAGS and self._skip:
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip:
            self._check(data)

    def _check(self, text: str):
        for part in text.split(MARK.strip()):
            if re.fullmatch(r"\s*[/#?][\w\-/.#?=&%]*\s*", part):  # a path after {{ base_url }}
                continue
            if re.fullmatch(r'\s*([\w-]+="[^"]*"?\s*)+|\s*"\s*', part):  # attributes written by a macro
                continue
            words = [w for w in re.findall(r"[^\W\d_]+", part) if w not in NEUTRAL]
            if words:
                self.found.append(part.strip())


def untranslated(source: str) -> list[str]:
    """The pieces of literal text in a Jinja template that a visitor reads but
    no translation call covers: the template's data tokens (Jinja lexer), with
    every expression, statement and ``{% trans %}`` block replaced by a
    marker, parsed as HTML; text nodes and text attributes with a letter."""
    from jinja2 import Environment

    env = Environment(extensions=["jinja2.ext.i18n"])
    parts: list[str] = []
    in_trans = 0
    block: list[str] = []
    in_block = False
    for _line, kind, value in env.lex(source):
        if kind == "block_begin":
            in_block, block = True, []
            continue
        if kind == "block_end":
            in_block = False
            name = block[0] if block else ""
            if name == "trans":
                in_trans += 1
            elif name == "endtrans":
                in_trans -= 1
            parts.append(MARK)
            continue
        if in_block:
            if kind == "name":
                block.append(value)
            continue
        if kind == "data" and not in_trans:
            parts.append(value)
        elif kind in ("variable_begin", "comment_begin"):
            parts.append(MARK)
    parser = _Text()
    parser.feed("".join(parts))
    parser.close()
    return parser.found


def _templates():
    for path in sorted(TEMPLATES.rglob("*.html")):
        rel = path.relative_to(TEMPLATES).as_posix()
        if not rel.startswith(UNWRAPPED):
            yield rel


def test_lint_finds_unwrapped_text():
    """The lint itself: catches bare text and attributes, passes wrapped text."""
    assert untranslated("<p>Opslaan</p>") == ["Opslaan"]
    assert untranslated('<input placeholder="Zoek iets">') == ["Zoek iets"]
    assert untranslated("<p>{{ _('Opslaan') }} · {{ n }}</p>") == []
    assert untranslated("<p>{% trans %}Hallo {{ n }}{% endtrans %}</p>") == []
    assert untranslated("{% if x %}<b>Nee</b>{% endif %}") == ["Nee"]


@pytest.mark.parametrize("name", list(_templates()))
def test_template_text_is_translatable(name):
    found = untranslated((TEMPLATES / name).read_text(encoding="utf-8"))
    assert not found, f"{name}: text outside a translation call: {found}"


#: Python files whose messages deliberately stay Dutch: no person reads them
#: through the web interface, which is the only place with a language choice.
#: ``portal/api/views.py``: the JSON API's error bodies (read by programs, not
#: rendered on a page; the API has no language switch). ``portal/api/follow.py``:
#: used only by the ``portal follow`` command (command-line output is Dutch,
#: as every CLI command's). Every other file is checked.
PY_UNWRAPPED = ("portal/api/follow.py", "portal/api/views.py")
#: Calls whose first argument a visitor reads: flashed messages and the
#: domain errors the error pages and forms show.
MESSAGE_CALLS = {"flash", "PermissionDenied", "NotFound", "Conflict", "ValidationFailed", "PortalError",
                 "BadNumber"}


def _bare_texts(node) -> list:
    """String literals (or f-strings) with a letter in ``node`` that no
    translation call wraps: the node itself, the branches of ``a if c else
    b``, the parts of ``a + b``, and the lists of a ``{field: [messages]}``
    dict."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node] if re.search(r"[^\W\d_]", node.value) else []
    if isinstance(node, ast.JoinedStr):
        return [node]
    if isinstance(node, ast.IfExp):
        return _bare_texts(node.body) + _bare_texts(node.orelse)
    if isinstance(node, ast.BinOp):
        return _bare_texts(node.left) + _bare_texts(node.right)
    if isinstance(node, ast.Dict):
        return [e for v in node.values if isinstance(v, ast.List) for x in v.elts for e in _bare_texts(x)]
    return []


def _python_files():
    for path in sorted((ROOT / "portal").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if "/migrations/" not in rel and not rel.startswith(PY_UNWRAPPED):
            yield rel


@pytest.mark.parametrize("name", list(_python_files()))
def test_python_messages_are_translatable(name):
    """Every flash() and domain error message in Python code is wrapped
    (``gettext``/``_``), found with the ``ast`` module."""
    import ast

    bad = []
    for node in ast.walk(ast.parse((ROOT / name).read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call) and node.args:
            func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if func in MESSAGE_CALLS:
                bad += [f"line {t.lineno}" for t in _bare_texts(node.args[0])]
    assert not bad, f"{name}: untranslated messages at {bad}"


def test_python_lint_finds_bare_messages():
    import ast

    call = ast.parse('flash(f"Hallo {x}") ; raise NotFound({"a": ["Weg"]})')
    found = [t for n in ast.walk(call) if isinstance(n, ast.Call) and n.args for t in _bare_texts(n.args[0])]
    assert len(found) == 2
    wrapped = ast.parse('flash(_("Hallo %(x)s", x=x))')
    assert not [t for n in ast.walk(wrapped) if isinstance(n, ast.Call) and n.args
                and getattr(n.func, "id", "") == "flash" for t in _bare_texts(n.args[0])]


# -- the catalog ------------------------------------------------------------

def _read_po():
    from babel.messages.pofile import read_po

    with open(CATALOG / "messages.po", "rb") as f:
        return read_po(f, locale="en")


def test_committed_mo_is_a_fresh_compile_of_the_po():
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, _read_po())
    assert (CATALOG / "messages.mo").read_bytes() == buffer.getvalue(), \
        "messages.mo is stale: run `make translations`"


def _extracted_ids() -> set:
    from babel.messages.frontend import parse_mapping_cfg
    from babel.messages.extract import extract_from_dir

    with open(ROOT / "babel.cfg", encoding="utf-8") as f:
        method_map, options_map = parse_mapping_cfg(f)
    ids = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT), method_map, options_map,
            keywords={"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None,
                      "lazy_ngettext": (1, 2), "_l": None, "N_": None}):
        ids.add(message if isinstance(message, str) else tuple(message))
    return ids


def test_every_extracted_message_has_an_english_translation():
    catalog = _read_po()
    missing = []
    for msgid in sorted(_extracted_ids(), key=str):
        key = msgid if isinstance(msgid, str) else msgid[0]
        message = catalog.get(key)
        string = message.string if message is not None else None
        if message is None or message.fuzzy or not string or (
                isinstance(string, (tuple, list)) and not all(string)):
            missing.append(key)
    assert not missing, f"{len(missing)} messages without English (run `make translations`): {missing[:20]}"


def test_placeholders_survive_translation():
    """A translation keeps the %(name)s placeholders of its msgid (else a
    KeyError or a lost value at run time)."""
    bad = []
    for message in _read_po():
        if not message.id or not message.string:
            continue
        ids = message.id if isinstance(message.id, (tuple, list)) else (message.id,)
        strings = message.string if isinstance(message.string, (tuple, list)) else (message.string,)
        wanted = set(re.findall(r"%\((\w+)\)[sd]", " ".join(ids)))
        for s in strings:
            if set(re.findall(r"%\((\w+)\)[sd]", s)) != wanted:
                bad.append(message.id)
    assert not bad, bad


# -- the running portal -----------------------------------------------------

DUTCH_WORDS = ("Zoeken", "Werkwijzen", "Inloggen", "Opslaan", "Uitloggen", "Gemeenten", "Bijeenkomsten",
               "Geleerde lessen", "Naar de inhoud", "Toegankelijkheid", "Over dit portaal", "Meldingen",
               "Terugsturen", "Vraag het netwerk", "Concepten", "Bijlagen", "Thema", "Bewerken", "Vorige",
               "Volgende", "Nieuwe", "verplicht", "Sleutelfiguren")


@pytest.fixture
def client(library_app):
    return library_app.test_client()


def _switch(client, lang: str, next_url: str = "/"):
    """Use the language switch in the header, as a visitor would."""
    from tests.conftest import csrf_token

    token = csrf_token(client, "/")
    return client.post("/taal", data={"csrf_token": token, "lang": lang, "next": next_url})


def test_dutch_is_the_default_whatever_the_browser_asks(client):
    html = client.get("/", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="nl">' in html
    assert ">Zoeken<" in html
    # the switch offers English, named in English and marked as English
    assert re.search(r'<button[^>]*name="lang" value="en"[^>]*lang="en"[^>]*>English</button>', html)


def test_language_switch_sets_a_cookie_and_renders_english(client):
    response = _switch(client, "en", "/werkwijzen?pagina=1")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/werkwijzen?pagina=1")
    cookie = response.headers.get("Set-Cookie", "")
    assert "portal_lang=en" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="en">' in html
    assert ">Search<" in html and ">Practices<" in html
    assert re.search(r'<button[^>]*name="lang" value="nl"[^>]*lang="nl"[^>]*>Nederlands</button>', html)
    _switch(client, "nl")
    html = client.get("/").get_data(as_text=True)
    assert '<html lang="nl">' in html and ">Zoeken<" in html


def test_language_switch_needs_csrf_and_a_known_language(client):
    assert client.post("/taal", data={"lang": "en"}).status_code == 400
    response = _switch(client, "fr")
    assert response.status_code == 303
    assert "portal_lang" not in response.headers.get("Set-Cookie", "")
    assert '<html lang="nl">' in client.get("/").get_data(as_text=True)


def test_language_switch_never_redirects_to_another_site(client):
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = _switch(client, "en", target)
        assert response.status_code == 303
        assert "evil.example" not in response.headers["Location"], target


def test_pages_vary_on_the_language_cookie(client):
    assert "Cookie" in client.get("/").headers.get("Vary", "")


def test_a_forged_cookie_value_falls_back_to_dutch(client):
    client.set_cookie("portal_lang", "xx")
    assert '<html lang="nl">' in client.get("/").get_data(as_text=True)


def _visible_text(html: str) -> str:
    body = html.split("<body", 1)[1]
    body = re.sub(r"<(script|style)\b.*?</\1>", " ", body, flags=re.S)
    return re.sub(r"<[^>]+>", " ", body)


def _without_content(html: str) -> str:
    """``html`` without the library's own text (titles and summaries of items,
    names of municipalities): that is written in Dutch by municipalities and
    is not interface text."""
    import html as html_lib

    from portal.extensions import db
    from portal.models import Item, Municipality

    html = re.sub(r'<div class="item-body">.*?</div>', " ", html, flags=re.S)  # Markdown bodies
    html = html_lib.unescape(html)
    texts = [t for row in db.session.execute(db.select(Item.title, Item.summary)) for t in row if t]
    texts += list(db.session.scalars(db.select(Municipality.name)))
    for t in sorted(texts, key=len, reverse=True):
        html = re.sub(re.escape(t[:60]) + r"[^<]*", " ", html)
    return html


def _no_dutch(html: str, where: str, app):
    with app.app_context():
        html = _without_content(html)
    text = _visible_text(html)
    found = [w for w in DUTCH_WORDS if re.search(r"(?<![\w-])" + re.escape(w) + r"(?![\w-])", text)]
    assert not found, f"{where}: Dutch interface words on an English page: {found}"


def _first_item_url(client, listing: str) -> str:
    html = client.get(listing).get_data(as_text=True)
    match = re.search(r'href="(/(?:werkwijzen|lessen)/[a-z0-9-]+)"', html)
    assert match, listing
    return match.group(1)


def test_english_public_pages_have_no_dutch_interface_words(library_app, client):
    _switch(client, "en")
    for url in ("/", "/werkwijzen", "/lessen", "/gemeenten", "/over", "/themas/polarisatie", "/dossiers",
                "/zoeken?q=jongeren", "/gemeenten/GM0503", "/fasen/opzetten", "/waar-staat-u",
                "/zoeken?q=jongeren", "/gemeenten/GM0503", "/fasen/opzetten", "/waar-staat-u",
                "/bijeenkomsten", "/toegankelijkheid", "/bestaat-niet"):
        response = client.get(url)
        assert response.status_code in (200, 404), url
        html = response.get_data(as_text=True)
        assert '<html lang="en">' in html, url
        _no_dutch(html, url, library_app)
    for listing in ("/werkwijzen", "/lessen"):
        item = _first_item_url(client, listing)
        _no_dutch(client.get(item).get_data(as_text=True), item, library_app)


def test_english_member_pages_have_no_dutch_interface_words(library_app, client_for):
    client = client_for(library_app, "curator@delft.example.org")
    _switch(client, "en")
    for url in ("/curatie", "/vragen", "/vragen/nieuw", "/meldingen", "/concepten", "/nieuw/werkwijzen",
                "/wie-kan-helpen", "/volgen", "/sessies", "/wachtwoord-wijzigen", "/sleutelfiguren",
                "/bijeenkomsten/nieuw", "/inzicht", "/account/sleutels"):
        response = client.get(url)
        assert response.status_code == 200, url
        _no_dutch(response.get_data(as_text=True), url, library_app)
    item = _first_item_url(client, "/werkwijzen")
    _no_dutch(client.get(item).get_data(as_text=True), item, library_app)


def test_english_meeting_and_question_pages(app, client_for):
    """A meeting and a question, made through the portal, read in English."""
    from tests.conftest import csrf_token

    client = client_for(app, "curator@delft.example.org")
    _switch(client, "en")
    token = csrf_token(client, "/bijeenkomsten/nieuw")
    made = client.post("/bijeenkomsten/nieuw", data={
        "csrf_token": token, "title": "Netwerkavond", "kind": "netwerkbijeenkomst",
        "starts_at": "2099-03-05T19:30", "ends_at": "2099-03-05T21:30", "place": "Stadhuis", "capacity": "20",
        "region": "", "description": "Over **vertrouwen**."})
    assert made.status_code in (302, 303), made.get_data(as_text=True)[:300]
    meeting = client.get(made.headers["Location"]).get_data(as_text=True)
    assert "Broad network meeting" in meeting and "March 5, 2099" in meeting
    _no_dutch(meeting, "meeting", app)
    token = csrf_token(client, "/vragen/nieuw")
    asked = client.post("/vragen/nieuw", data={"csrf_token": token, "title": "Hoe werf je jongeren?",
                                                "body": "Graag ervaringen.", "themes": ["jongeren"]})
    assert asked.status_code in (302, 303), asked.get_data(as_text=True)[:300]
    question = client.get(asked.headers["Location"]).get_data(as_text=True)
    assert "0 answers" in question and "Young people" in question
    _no_dutch(question, "question", app)


def test_english_form_errors_are_english(app, client_for):
    from tests.conftest import csrf_token

    client = client_for(app, "curator@delft.example.org")
    _switch(client, "en")
    token = csrf_token(client, "/nieuw/werkwijzen")
    html = client.post("/nieuw/werkwijzen", data={"csrf_token": token, "title": "", "action": "save",
                                                  "started": "gisteren"}).get_data(as_text=True)
    assert "Enter a title" in html
    assert "is not a date" in html


def test_dates_follow_the_language(app):
    from flask_babel import force_locale

    from portal.web.filters import _date

    with app.test_request_context("/"):
        with force_locale("en"):
            assert _date(date(2026, 3, 5)) == "March 5, 2026"
        with force_locale("nl"):
            assert _date(date(2026, 3, 5)) == "5 maart 2026"


def test_taxonomy_labels_and_stored_texts_follow_the_language(app):
    from flask_babel import force_locale

    from portal.services.audit_labels import audit_label
    from portal.web.filters import _label, revision_note

    with app.test_request_context("/"):
        assert _label("wijkagent", "key_figure_type") == "Wijkagent"
        assert revision_note("hersteld uit versie 3") == "hersteld uit versie 3"
        with force_locale("en"):
            assert _label("wijkagent", "key_figure_type") == "Community police officer"
            assert revision_note("hersteld uit versie 3") == "restored from version 3"
            assert revision_note("iets anders") == "iets anders"
            assert audit_label("item.publish") == "Published"


def test_service_messages_follow_the_language(app):
    """Validation errors and warnings raised by the services reach a page in
    the reader's language, and stay Dutch outside a request (command line)."""
    from flask_babel import force_locale

    from portal.errors import ValidationFailed
    from portal.services.attachments import check_content
    from portal.services.people import personal_data_warnings

    def upload_error():
        with pytest.raises(ValidationFailed) as raised:
            check_content(b"plain text, not a PDF")
        return " ".join(m for ms in raised.value.errors.values() for m in ms)

    with app.app_context():
        assert upload_error().startswith("Dit soort bestand kan niet als bijlage")
    with app.test_request_context("/"):
        assert upload_error().startswith("Dit soort bestand kan niet als bijlage")
        with force_locale("en"):
            assert upload_error().startswith("This kind of file cannot be an attachment")
            warnings = personal_data_warnings("Bel 06-12345678", [])
            assert warnings[0] == "The text contains a phone number (06-12345678)."
            assert warnings[-1].startswith("Does the person agree")


def test_stored_notifications_are_translated_when_shown(app):
    from types import SimpleNamespace

    from flask_babel import force_locale

    from portal.services.notifications import display_message

    note = SimpleNamespace(message="Gepubliceerd: Buurtvaders in Delft")
    with app.test_request_context("/"):
        assert display_message(note) == "Gepubliceerd: Buurtvaders in Delft"
        with force_locale("en"):
            assert display_message(note) == "Published: Buurtvaders in Delft"


def test_listing_pages_announce_their_atom_feed(client):
    for url, feed in (("/werkwijzen", "/feeds/werkwijzen.atom"),
                      ("/themas/polarisatie", "/feeds/themas/polarisatie.atom"),
                      ("/gemeenten/GM0503", "/feeds/gemeenten/GM0503.atom"),
                      ("/zoeken?q=jongeren", "/feeds/zoeken.atom?q=jongeren")):
        html = client.get(url).get_data(as_text=True)
        head, body = html.split("</head>", 1)
        assert re.search(r'<link rel="alternate" type="application/atom\+xml"[^>]*href="'
                         + re.escape(feed) + '"', head), url
        assert f'href="{feed}"' in body, f"{url}: no visible feed link"
        assert client.get(feed).status_code == 200, feed
    assert "/feeds/" not in client.get("/over").get_data(as_text=True).split("</head>", 1)[1]


if __name__ == "__main__":
    for name in _templates():
        found = untranslated((TEMPLATES / name).read_text(encoding="utf-8"))
        if found:
            print(f"{name}: {len(found)}")
            for f in found:
                print("   ", repr(f[:90]))
