"""ASVS 5.0 V1.3.1 (untrusted HTML sanitised with a known library), V1.2.1
(output encoding), V3.4.3 (CSP without inline script): a corpus of
script-smuggling inputs through the real Markdown path and the real item
and search pages, and property tests (hypothesis) for the sanitiser and the
search-query parser."""

from __future__ import annotations

import html as html_lib
import re
import time
from collections import Counter
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from portal.extensions import db
from portal.markdown import plain_text, render
from portal.models import Item
from portal.search.query import build_query, load_synonyms
from portal.services import items as item_service
from portal.services.items import SYSTEM

FORBIDDEN_TAGS = {"script", "iframe", "frame", "frameset", "svg", "math", "style", "object", "embed", "form",
                  "base", "meta", "link", "input", "button", "textarea", "select", "template", "applet",
                  "audio", "video", "source", "portal", "noscript", "xmp", "plaintext"}
SAFE_SCHEMES = {"http", "https", "mailto", ""}

CORPUS = [
    # raw HTML and event attributes
    "<script>alert(1)</script>", "<ScRiPt>alert(1)</sCrIpT>", "<script/x>alert(1)</script>",
    "<<script>script>alert(1)<</script>/script>", '<img src=x onerror="alert(1)">',
    "<img src=x onerror=alert(1)//", '<img src="x" ONERROR="alert(1)">', "<body onload=alert(1)>",
    '<p onclick="alert(1)">klik</p>', "<details open ontoggle=alert(1)>", '<div onmouseover="alert(1)">x</div>',
    '<a href="https://ok.example" onfocus="alert(1)" autofocus>x</a>', "<img src=x:alert(alt) onerror=eval(src) alt=0>",
    # dangerous URL schemes in any spelling or encoding
    "[x](javascript:alert(1))", "[x](JAVASCRIPT:alert(1))", "[x](jav\tascript:alert(1))",
    "[x](java&#x09;script:alert(1))", "[x](&#106;avascript:alert(1))", "[x](&#x6A;avascript:alert(1))",
    "[x](%6Aavascript:alert(1))", "[x]( javascript:alert(1))", "[x](\x01javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)", "[x](vbscript:msgbox(1))",
    "[x](livescript:alert(1))", "[x](file:///etc/passwd)", "![x](javascript:alert(1))", "![x](data:image/svg+xml,<svg onload=alert(1)>)",
    "<javascript:alert(1)>", "<a href='jAvAsCrIpT:alert(1)'>x</a>", '<a href="  javascript:alert(1)">x</a>',
    '<a href="javascript&colon;alert(1)">x</a>', '<a href="java\nscript:alert(1)">x</a>',
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)">x</a>',
    "[x][r]\n\n[r]: javascript:alert(1)", "[x][r]\n\n[r]: <javascript:alert(1)>", '[x](javascript:alert(1) "titel")',
    # SVG, MathML, iframes, objects, style
    '<svg onload="alert(1)"><circle r="1"/></svg>', "<svg><script>alert(1)</script></svg>",
    "<svg><a xlink:href=javascript:alert(1)><text>x</text></a></svg>", '<iframe src="https://evil.example"></iframe>',
    '<iframe srcdoc="<script>alert(1)</script>"></iframe>', "<object data=javascript:alert(1)></object>", "<embed src=x>",
    '<div style="background:url(javascript:alert(1))">x</div>', "<style>body{background:url(javascript:alert(1))}</style>",
    '<span style="x:expression(alert(1))">x</span>', '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    '<base href="https://evil.example/">', '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">',
    '<link rel="stylesheet" href="https://evil.example/x.css">', '<form action="javascript:alert(1)"><button>x</button></form>',
    "<template><script>alert(1)</script></template>", "<noscript><p title=\"</noscript><img src=x onerror=alert(1)>\">",
    "<!--><script>alert(1)</script>-->", "<![CDATA[<script>alert(1)</script>]]>", "<xmp><script>alert(1)</script></xmp>",
    # code blocks and HTML in odd places
    "```html\n<script>alert(1)</script>\n```", "- lijst\n\n    <script>alert(1)</script>",
    "1. stap\n\n    ```\n    <img src=x onerror=alert(1)>\n    ```", "`<script>`alert(1)`</script>`",
    "> citaat <script>alert(1)</script>", "| a | b |\n|---|---|\n| <script>alert(1)</script> | <img src=x onerror=alert(1)> |",
    "# Kop <script>alert(1)</script>", "<div markdown=\"1\">*x* <script>alert(1)</script></div>",
    "Term\n: <iframe src=x></iframe>", "[^1]\n\n[^1]: <script>alert(1)</script>",
    "*[HTML]: <script>alert(1)</script>\n\nHTML", '<a href="x" title="a\\" onmouseover=\\"alert(1)">x</a>',
    '[x](https://ok.example "a\\" onmouseover=\\"alert(1)")', "<a href=https://ok.example/\"onmouseover=\"alert(1)\">x</a>",
    "<img src=`x` onerror=`alert(1)`>", "<img/src=x/onerror=alert(1)>", "<IMG SRC=\"jav&#x0D;ascript:alert(1)\">",
]


class _Inspector(HTMLParser):
    """Collect every problem a browser could execute."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in FORBIDDEN_TAGS:
            self.problems.append(f"tag <{tag}>")
        for name, value in attrs:
            if name.startswith("on"):
                self.problems.append(f"event attribute {name} on <{tag}>")
            if name in ("style", "srcdoc", "formaction", "xlink:href", "action"):
                self.problems.append(f"attribute {name} on <{tag}>")
            if name in ("href", "src") and value is not None:
                # as a browser reads it (WHATWG URL): entities decoded, C0 controls and
                # spaces stripped at both ends, tabs and newlines removed everywhere
                url = re.sub(r"[\t\n\r]", "", html_lib.unescape(value).strip("".join(map(chr, range(33)))))
                scheme = urlsplit(url).scheme.lower() if ":" in url.split("/", 1)[0] else ""
                if scheme not in SAFE_SCHEMES:
                    self.problems.append(f"{name}={value!r} on <{tag}>")

    handle_startendtag = handle_starttag


def problems(html: str) -> list[str]:
    inspector = _Inspector()
    inspector.feed(html)
    inspector.close()
    return inspector.problems


def test_the_inspector_catches_what_it_should():
    """The checker itself can fail (else the tests below prove nothing)."""
    assert problems("<script>x</script>")
    assert problems('<a href="JaVa&#x09;Script:alert(1)">x</a>')
    assert problems('<p onclick="x">')
    assert problems('<img src="data:image/png;base64,xx">')
    assert problems('<span style="x">') and problems("<svg/>")
    assert problems('<a href="https://ok.example">x</a> <a href="/pad">y</a> <a href="#k">z</a>') == []


@pytest.mark.parametrize("source", CORPUS)
def test_v1_3_1_markdown_corpus_renders_nothing_executable(source):
    assert problems(render(source)) == [], render(source)
    assert problems(render(source, lambda href: None)) == []
    assert "<" not in plain_text(source) or "&lt;" in html_lib.escape(plain_text(source))


def test_v1_2_1_corpus_through_the_real_item_and_search_pages(app, client_for):
    body = "\n\n".join(CORPUS)
    with app.app_context():
        item = item_service.save_item(SYSTEM, "practice", {
            "title": '<script>alert("titel")</script> werkwijze', "summary": '<img src=x onerror=alert(1)> samenvatting',
            "tags": ["<svg onload=alert(1)>"], "status": "published"}, body)
        slug = item.slug
    client = client_for(app, "lid@delft.example.org")
    with app.app_context():
        plain = db.session.scalar(select(Item).where(Item.type == "practice", Item.slug != slug)).slug
    # the site's own page furniture (meta, stylesheet, logout and search forms) is the baseline
    baseline = {"item": Counter(problems(client.get(f"/werkwijzen/{plain}").get_data(as_text=True))),
                "search": Counter(problems(client.get("/zoeken?q=werkwijze").get_data(as_text=True)))}
    for kind, path in (("item", f"/werkwijzen/{slug}"), ("search", "/zoeken?q=werkwijze+samenvatting"),
                       ("search", "/zoeken?q=<script>alert(1)</script>"),
                       ("search", "/zoeken?q=%22%3E%3Cimg+src%3Dx+onerror%3Dalert(1)%3E")):
        resp = client.get(path)
        assert resp.status_code == 200, path
        page = resp.get_data(as_text=True)
        extra = Counter(problems(page)) - baseline[kind]
        assert not extra, (path, extra)
        assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in resp.headers["Content-Security-Policy"]
    page = client.get(f"/werkwijzen/{slug}").get_data(as_text=True)
    assert "&lt;script&gt;alert(" in page  # the title is shown, escaped


FRAGMENTS = st.sampled_from([
    "<", ">", "</", "/>", "script", "SCRIPT", "img", "svg", "iframe", "a", " href=", " src=", " onerror=", " onload=",
    "javascript:", "JaVaScRiPt:", "java\tscript:", "&#106;", "&#x6A;", "data:text/html,", "vbscript:", "alert(1)",
    "\"", "'", "`", "=", "[x](", ")", "![y](", "```", "\n", "\n\n", "    ", "- ", "> ", "|", "<!--", "-->", "&",
    "style=", "expression(", "url(", ":", "/", "\\", "\x00", "\u2028", "<math>", "<style>", "</style>",
])
SMUGGLE = st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=60).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SMUGGLE)
def test_v1_3_1_property_sanitiser_output_is_never_executable(text):
    out = render(text)
    assert problems(out) == [], (text, out)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_v1_3_1_property_sanitiser_accepts_any_unicode(text):
    out = render(text)
    assert isinstance(out, str)
    assert problems(out) == []


_SYNONYMS = load_synonyms()
QUERY_TEXT = st.one_of(
    st.text(max_size=300),
    st.lists(st.sampled_from(['"', "*", "?", "AND", "OR", "NOT", "(", ")", "field:", "title:", "~2", "^3", "-",
                              "+", "sleutelfiguur", "jongerenwerker", "\x00", "\\", "[", "]", "{", "}", " ",
                              "radicalisring", "coördinator", "'s-Hertogenbosch"]), max_size=40).map(" ".join),
)


@settings(max_examples=300, deadline=None)
@given(QUERY_TEXT, st.booleans())
def test_property_search_query_parser_never_raises_and_is_fast(text, fuzzy):
    start = time.perf_counter()
    built = build_query(text, fuzzy=fuzzy, synonyms=_SYNONYMS)
    assert time.perf_counter() - start < 2.0
    assert built.query is None or built.words
    assert all(isinstance(w, str) for w in built.words)


def test_search_query_parser_handles_a_large_paste():
    text = ("sleutelfiguur jongerenwerker \"open zin " * 400)[:10_000]
    start = time.perf_counter()
    build_query(text, fuzzy=True, synonyms=_SYNONYMS)
    assert time.perf_counter() - start < 3.0
