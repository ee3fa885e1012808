"""Following and digests (issue #9): "Wat ik volg" (``/volgen``), the follow
and unfollow buttons on theme, phase, municipality and collection pages, the
digest frequency, and the one-click unsubscribe page of the digest e-mail.

Thin: parse input, call ``portal.services.follows``, flash, redirect. Every
state change is a POST; all but the unsubscribe POST carry a CSRF token.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from ..errors import ValidationFailed
from ..extensions import csrf
from ..models.follows import DIGEST_FREQUENCIES
from ..services import follows as service

bp = Blueprint("follows", __name__)
bp.record_once(lambda _state: service.install())

#: search-page presets (see ``web.views``) that name one followable thing
PRESET_KINDS = ("theme", "phase", "municipality")


def _back(default: str) -> str:
    """``next`` from the form when it is a path on this site, else ``default``."""
    from ..auth import safe_next

    target = request.form.get("next", "")
    # browsers drop tabs and line ends inside a URL ("/\t/evil" becomes "//evil"): any
    # control character makes the target unsafe, whatever safe_next thinks of the rest
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return default
    return safe_next(target) or default


def _frequency_names() -> dict[str, str]:
    return {"daily": _("Dagelijks"), "weekly": _("Wekelijks"), "monthly": _("Maandelijks"), "never": _("Nooit")}


@bp.app_template_global("follow_state")
def follow_state(preset: dict | None = None, collection: Any = None) -> service.Target | None:
    """For ``follows/_button.html``: the followable thing of the page (a
    search page preset for one theme, phase or municipality, or a collection)
    with ``following`` set for the current user; ``None`` for anonymous
    visitors and pages without one."""
    if not getattr(current_user, "is_authenticated", False):
        return None
    target = None
    if collection is not None and getattr(collection, "id", None) is not None:
        target = service.Target("collection", str(collection.id), collection.title)
    elif preset:
        for kind in PRESET_KINDS:
            values = preset.get(kind) or []
            if len(values) == 1 and len(preset) == 1:
                target = service.describe(kind, values[0])
                break
    if target is None:
        return None
    target.following = service.is_following(current_user, target.kind, target.key)
    return target


@bp.route("/volgen")
@login_required
def index():
    return render_template("follows/index.html", targets=service.followed(current_user),
                           frequency=service.frequency_of(current_user), frequencies=DIGEST_FREQUENCIES,
                           frequency_names=_frequency_names(), regions=service.regions(),
                           kind_label=service.kind_label, errors={})


@bp.route("/volgen", methods=["POST"])
@login_required
def follow():
    kind, key = request.form.get("kind", ""), request.form.get("key", "")
    try:
        target = service.follow(current_user, kind, key)
    except ValidationFailed as exc:
        for messages in exc.errors.values():
            for message in messages:
                flash(message, "error")
        return redirect(_back(url_for("follows.index")))
    flash(_("U volgt nu %(naam)s. Nieuwe items ziet u bij Meldingen en in uw e-mail.", naam=target.name),
          "success")
    return redirect(_back(url_for("follows.index")))


@bp.route("/volgen/stoppen", methods=["POST"])
@login_required
def unfollow():
    service.unfollow(current_user, request.form.get("kind", ""), request.form.get("key", ""))
    flash(_("U volgt dit niet meer."), "success")
    return redirect(_back(url_for("follows.index")))


@bp.route("/volgen/samenvatting", methods=["POST"])
@login_required
def frequency():
    chosen = request.form.get("frequency", "")
    try:
        service.set_frequency(current_user, chosen)
    except ValidationFailed as exc:
        return render_template("follows/index.html", targets=service.followed(current_user),
                               frequency=chosen, frequencies=DIGEST_FREQUENCIES,
                               frequency_names=_frequency_names(), regions=service.regions(),
                               kind_label=service.kind_label, errors=exc.errors), 400
    flash(_("Uw keuze voor de e-mail is opgeslagen: %(keuze)s.", keuze=_frequency_names()[chosen].lower()),
          "success")
    return redirect(url_for("follows.index"))


@bp.route("/volgen/afmelden/<token>", methods=["GET", "POST"])
def unsubscribe(token: str):
    """GET: a confirmation page with a button (nothing changes). POST: stop
    the digests. The POST is also RFC 8058's one-click unsubscribe, sent by
    mail clients with body ``List-Unsubscribe=One-Click``, without a session
    or CSRF token: the signed token in the URL authenticates the request
    (it names one user and works for digests only), so CSRF protection is
    off for this view (see ``csrf.exempt`` below) and anonymous visitors pass
    the gate (``web.public.PUBLIC_ENDPOINTS``)."""
    secret = current_app.config["SECRET_KEY"]
    try:
        if request.method == "POST":
            user = service.unsubscribe(token, secret)
            return render_template("follows/unsubscribe.html", token=token, done=True, email=user.email)
        user = service.user_for_token(token, secret)
    except ValidationFailed as exc:
        return render_template("follows/unsubscribe.html", token=token, done=False,
                               error=exc.errors["token"][0]), 400
    return render_template("follows/unsubscribe.html", token=token, done=False, email=user.email, error="")


# The token authenticates the one-click POST (RFC 8058); see the docstring.
csrf.exempt(unsubscribe)
