"""The browser tests wait for a click's page before they read it.

Selenium's ``click()`` returns as soon as the click is dispatched; the
navigation it starts may not have finished. A test that reads
``page_source`` or ``current_url`` in the very next statement reads the old
page on a busy machine and fails now and then (CI failed once that way, in
``test_follows``). This check finds that whole kind of statement pair in every
test module, so the next one fails here, every time, instead of in CI, once.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.no_db

TESTS = Path(__file__).parent
PAGE_READS = {"page_source", "current_url", "title"}


def _is_click(stmt: ast.stmt) -> bool:
    return (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute) and stmt.value.func.attr == "click")


def _reads_page(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Assert) and any(
        isinstance(node, ast.Attribute) and node.attr in PAGE_READS for node in ast.walk(stmt))


def unwaited_reads(source: str) -> list[int]:
    """Line numbers of asserts that read the page right after a click.

    :param source: a Python module's text.
    :returns: the line of each ``assert`` on ``page_source``/``current_url``/``title``
        that directly follows an ``….click()`` statement in the same block.
    """
    found = []
    for node in ast.walk(ast.parse(source)):
        for field in ("body", "orelse", "finalbody"):
            block = getattr(node, field, None)
            if not isinstance(block, list):
                continue
            for first, second in zip(block, block[1:]):
                if _is_click(first) and _reads_page(second):
                    found.append(second.lineno)
    return found


def test_the_check_catches_the_pattern_and_passes_a_wait():
    racy = "drv.find_element(x).click()\nassert 'Klaar' in drv.page_source\n"
    waited = "drv.find_element(x).click()\nsee(drv, 'Klaar')\nassert 'Klaar' in drv.page_source\n"
    in_try = "try:\n    b.click()\n    assert b.current_url == u\nfinally:\n    pass\n"
    assert unwaited_reads(racy) == [2]
    assert unwaited_reads(waited) == []
    assert unwaited_reads(in_try) == [3]


def test_no_browser_test_reads_the_page_straight_after_a_click():
    offenders = {
        str(path.relative_to(TESTS)): lines
        for path in sorted(TESTS.rglob("*.py"))
        if path.name != Path(__file__).name
        and (lines := unwaited_reads(path.read_text(encoding="utf-8")))
    }
    assert not offenders, f"wait (see(...)/WebDriverWait) before reading the page: {offenders}"
