"""The page where a logged-in user makes and revokes their API tokens
(``/account/sleutels``; ``/account/api-tokens`` leads there too)."""

from __future__ import annotations

from flask import Blueprint, current_app, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import ValidationFailed
from ..extensions import limiter
from ..services import api_tokens

bp = Blueprint("api_account", __name__)


def _page(new_token: str | None = None, errors: dict | None = None, name: str = "", status: int = 200):
    tokens = api_tokens.list_tokens(current_user, current_user)
    html = render_template("api/tokens.html", tokens=tokens, new_token=new_token,
                           errors=errors or {}, name=name)
    # The new token is in this page only: never cached, never sent elsewhere.
    return html, status, {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


@bp.get("/account/api-tokens")
@login_required
def tokens_en():
    return redirect(url_for("api_account.tokens"))


def _login_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


@bp.route("/account/sleutels", methods=["GET", "POST"])
# A wrong password here counts like a failed login: per account (in the
# service) and per address (here), as on the change-password form.
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: bool(g.get("reauth_failed")))
@login_required
def tokens():
    """GET: the user's tokens. POST (CSRF; fields ``name`` and ``password``,
    the current password): make one and show it once."""
    if request.method == "GET":
        return _page()
    name = request.form.get("name", "")
    try:
        _row, token = api_tokens.create_token(current_user, current_user, name,
                                              password=request.form.get("password", ""))
    except ValidationFailed as exc:
        g.reauth_failed = "password" in exc.errors
        return _page(errors=exc.errors, name=name, status=400)
    return _page(new_token=token, status=201)


@bp.post("/account/sleutels/<int:token_id>/intrekken")
@login_required
def revoke(token_id: int):
    api_tokens.revoke_token(current_user, token_id)
    from flask import flash

    flash(_("De sleutel is ingetrokken en werkt niet meer."), "success")
    return redirect(url_for("api_account.tokens"))
