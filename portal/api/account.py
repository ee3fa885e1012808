"""The page where a logged-in user makes and revokes their API tokens
(``/account/sleutels``; ``/account/api-tokens`` leads there too)."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..errors import ValidationFailed
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


@bp.route("/account/sleutels", methods=["GET", "POST"])
@login_required
def tokens():
    """GET: the user's tokens. POST (CSRF): make one and show it once."""
    if request.method == "GET":
        return _page()
    name = request.form.get("name", "")
    try:
        _row, token = api_tokens.create_token(current_user, current_user, name)
    except ValidationFailed as exc:
        return _page(errors=exc.errors, name=name, status=400)
    return _page(new_token=token, status=201)


@bp.post("/account/sleutels/<int:token_id>/intrekken")
@login_required
def revoke(token_id: int):
    api_tokens.revoke_token(current_user, token_id)
    from flask import flash

    flash("De sleutel is ingetrokken en werkt niet meer.", "success")
    return redirect(url_for("api_account.tokens"))
