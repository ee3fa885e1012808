"""Deny by default: an endpoint not named here refuses anonymous visitors.

Views still check permissions themselves (a public endpoint such as an item
page shows a profile only to members); this list is the outer wall, so a new
page that forgets ``login_required`` is closed rather than open. The JSON API
authenticates every request itself (anonymous reads of public items, a token
for the rest) and is listed as a whole.
"""

from __future__ import annotations

from flask import Flask, request
from flask_login import current_user

from ..extensions import login_manager

#: Endpoints an anonymous visitor may reach (the view may still refuse).
PUBLIC_ENDPOINTS = frozenset({
    "static",
    # reading the public library
    "web.home", "web.about", "web.search_page", "web.item", "web.browse_type", "web.browse_theme",
    "web.browse_phase", "web.browse_municipality", "web.municipalities", "web.healthz",
    "curation.download_attachment",  # attachments of items the visitor may read
    "feeds.all_items", "feeds.by_type", "feeds.by_theme", "feeds.by_phase", "feeds.by_municipality",
    "feeds.by_search", "feeds.sitemap",
    "statement.accessibility",
    "network.meetings", "network.meeting", "network.meeting_ics", "network.region_ics",
    "collections.index", "collections.view",
    "guide.index",
    "follows.unsubscribe",  # the digest's one-click unsubscribe: a signed token authenticates (issue #9)
    "language.switch",  # the header's language switch (a cookie only; issue #8)
    # getting in (and out)
    "auth.login", "auth.login_code", "auth.reset_password", "auth.logout",
    "signup.form", "signup.sent", "signup.confirm", "signup.confirm_post",  # issue #9
    "signup.confirm_request", "signup.confirm_request_post",  # an access request's address link (issue #9)
    "auth.oidc_start", "auth.oidc_callback",  # single sign-on with a municipality (issue #7)
    "auth.forgot_password", "auth.forgot_password_sent",  # "Wachtwoord vergeten?" (self-service reset)
})

#: Blueprints that authenticate each request themselves.
SELF_AUTHENTICATING_BLUEPRINTS = frozenset({"api"})


def is_public(endpoint: str | None) -> bool:
    """Whether an anonymous visitor may reach ``endpoint`` (None: no route
    matched, the 404 handler answers)."""
    if endpoint is None or endpoint in PUBLIC_ENDPOINTS:
        return True
    return endpoint.partition(".")[0] in SELF_AUTHENTICATING_BLUEPRINTS


def register(app: Flask) -> None:
    """Install the gate; call after every blueprint is registered, so that
    hooks that must see anonymous requests first (the expired-session form
    keeper) have run."""

    @app.before_request
    def refuse_anonymous_outside_the_public_list():
        if current_user.is_authenticated or is_public(request.endpoint):
            return None
        return login_manager.unauthorized()
