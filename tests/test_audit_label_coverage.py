"""Every action code the portal writes to the audit log has a Dutch label on
the admins' log page: a new code without one would show as a bare code."""

from __future__ import annotations

import ast
from pathlib import Path

from portal.services.audit_labels import AUDIT_LABELS

PORTAL = Path(__file__).resolve().parents[1] / "portal"


def _audit_codes() -> set[str]:
    """Literal action codes passed as the second argument of ``audit(...)``
    and of ``accounts.record(...)`` (the same call for account events)."""
    codes: set[str] = set()
    for path in PORTAL.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name not in ("audit", "record"):
                continue
            arg = node.args[1]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                codes.add(arg.value)
            elif isinstance(arg, ast.IfExp):  # audit(x, "a" if c else "b", ...)
                codes.update(v.value for v in (arg.body, arg.orelse)
                             if isinstance(v, ast.Constant) and isinstance(v.value, str))
    return codes


def test_every_audit_code_has_a_dutch_label():
    codes = _audit_codes()
    assert len(codes) > 40  # the walk finds the calls at all
    assert sorted(codes - set(AUDIT_LABELS)) == []
