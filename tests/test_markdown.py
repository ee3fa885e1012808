"""Markdown is rendered through one nh3 allow-list: nothing executable survives."""

import re

import pytest

from portal.markdown import library_link_target, plain_text, render

pytestmark = pytest.mark.no_db  # no database: runs once (tests/conftest.py)

SMUGGLING = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//x.example/x.js></SCRIPT>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">x</a>',
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x]( javascript:alert(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](vbscript:msgbox(1))",
    "![x](javascript:alert(1))",
    '<svg onload="alert(1)"><circle r="1"/></svg>',
    '<iframe src="https://evil.example"></iframe>',
    '<div style="background:url(javascript:alert(1))">x</div>',
    '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
    "<details open ontoggle=alert(1)>",
    '<form action="javascript:alert(1)"><button>x</button></form>',
    "- lijst\n\n    <script>alert(1)</script>",
    "```html\n<script>alert(1)</script>\n```",
    '<a href="&#0000106&#0000097&#0000118&#0000097&#0000115&#0000099&#0000114&#0000105&#0000112&#0000116&#0000058alert(1)">x</a>',
    "<object data=x></object><embed src=x>",
    '<base href="https://evil.example/">',
    '<meta http-equiv="refresh" content="0;url=https://evil.example">',
]


@pytest.mark.parametrize("source", SMUGGLING)
def test_no_script_no_event_attribute_no_bad_link(source):
    html = render(source)
    lowered = html.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<svg" not in lowered
    assert "<style" not in lowered and "<object" not in lowered and "<embed" not in lowered
    assert "<base" not in lowered and "<meta" not in lowered and "<form" not in lowered
    assert not re.search(r"<[^>]+\son\w+\s*=", lowered), html
    assert "style=" not in lowered
    for url in re.findall(r'(?:href|src)="([^"]*)"', html):
        assert re.match(r"^(https?:|mailto:|/|#|\.|[\w-]+(/|\.|$))", url), url


def test_ordinary_markdown_survives():
    html = render("## Aanpak\n\n- **vet** en *schuin*\n- [site](https://example.org)\n\n| a | b |\n|---|---|\n| 1 | 2 |")
    assert "<h2" in html and "<strong>vet</strong>" in html and "<table>" in html
    assert 'href="https://example.org"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_code_fence_inside_list_stays_code():
    html = render("1. stap\n\n    ```\n    <b>niet vet</b>\n    ```\n")
    assert "&lt;b&gt;" in html and "<b>" not in html


def test_library_links_are_resolved():
    assert library_link_target("../lessons/ruimte-voor-eigen-aanpak.md", "practice") == ("lesson", "ruimte-voor-eigen-aanpak", "")
    assert library_link_target("fase-opzetten.md#stap", "practice") == ("practice", "fase-opzetten", "#stap")
    assert library_link_target("https://example.org/a.md", "practice") is None
    html = render("[les](../lessons/x.md)", lambda h: "/lessen/x" if h.endswith(".md") else None)
    assert 'href="/lessen/x"' in html


def test_plain_text_strips_markup():
    assert plain_text("# Kop\n\nTekst met <b>html</b> &amp; **nadruk**") == "Kop Tekst met html & nadruk"
