"""Nothing lost on the network's forms (issue #4, as for the item forms):
the question form (``/vragen/nieuw``) and the answer form (on the question's
page, posted to ``/vragen/<id>/antwoorden``).

Three ways a post can fail to arrive with a usable login, each handled like
the item forms in ``portal.web.resume`` (which calls in here):

* The session expired (idle or absolute limit) while typing: the CSRF check
  passes, the login is gone. :func:`keep_posted_form` keeps the post for the
  user the session named (``kept_forms.keep_form`` with no item and
  ``item_type`` naming the page) and sends them to the login page, which
  returns to the form with ``?hervat=<token>``.
* The whole session cookie is gone (the browser was closed), or the session
  no longer holds the token the form carried (logged out in another tab):
  the CSRF check refuses the post; :func:`keep_form_after_csrf_failure`
  keeps the text without a user under a token in the HttpOnly cookie of
  ``portal.web.resume`` and shows the "log in again" page. Kept only for a
  post sent by a page of this site that carries a ``csrf_token`` field.
* The CSRF token failed while the login is still valid: kept for that user
  and straight back to the form with ``?hervat=``, no login needed.

On the form's GET the kept text is taken out once (before the view runs)
for a logged-in user who may still use the form, and the view fills the
form with it (:func:`resumed_fields`). Nothing is ever saved by this: only
a fresh, CSRF-checked submit of the filled form asks or answers.
"""

from __future__ import annotations

from flask import after_this_request, flash, g, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from .. import permissions
from ..extensions import db
from ..models import Question
from ..services import kept_forms
from .common import valid_id

#: Where the forms are posted, and the pages that show them.
POSTED = ("network.ask", "network.answer")
SHOWN = ("network.ask", "network.question")
_G = "network_resumed_fields"


def _page(endpoint: str, args: dict) -> tuple[str, str | None, str, str] | None:
    """For a form posted to (or shown by) ``endpoint`` with view ``args``:
    ``(page, slug, posted_endpoint, form_url)``: ``page`` names the form in
    ``kept_forms`` (``"question"`` or ``"answer:<id>"``), ``slug`` is the
    question id for a form kept without a session. ``None``: not a form page."""
    if endpoint == "network.ask":
        return "question", None, "network.ask", url_for("network.ask")
    if endpoint in ("network.answer", "network.question"):
        qid = args.get("question_id")
        if not valid_id(qid):
            return None
        return f"answer:{qid}", str(qid), "network.answer", url_for("network.question", question_id=qid)
    return None


def _allowed(page: str):
    """May the current user still use the form ``page``? (A callable, run
    when the kept form is taken out.) Asking and answering: ``can_ask``;
    answering also needs the question to exist still."""
    def check() -> bool:
        if not permissions.can_ask(current_user):
            return False
        if page.startswith("answer:"):
            return db.session.get(Question, int(page.partition(":")[2])) is not None
        return True
    return check


def _item_type(posted_endpoint: str) -> str:
    return "question" if posted_endpoint == "network.ask" else "answer"


def keep_posted_form():
    """Before every request to the network's form endpoints (called by
    ``portal.web.resume.keep_posted_form``): on the forms' GET, take out a
    kept form (``?hervat=`` or the cookie); on a POST that arrived without a
    login from a session that had one, keep the form and answer with a
    redirect to the login page. ``None`` lets the view answer as usual."""
    from ..web.resume import COOKIE, RESUME_ARG, _former_user_id

    args = dict(request.view_args or {})
    found = _page(request.endpoint, args)
    if found is None:
        return None
    page, slug, posted, form_url = found
    if request.method == "GET" and request.endpoint in SHOWN:
        if not current_user.is_authenticated:
            return None
        if request.args.get(RESUME_ARG):
            fields = kept_forms.take_page_form(current_user, request.args[RESUME_ARG], page, _allowed(page))
            setattr(g, _G, fields)
            if fields is None:
                flash(_("Er is bij deze link geen bewaarde tekst (meer) voor u."), "info")
        elif request.cookies.get(COOKIE):
            fields = kept_forms.take_page_form_without_session(
                current_user, request.cookies.get(COOKIE, ""), posted, _item_type(posted), slug, f"new:{page}",
                _allowed(page))
            if fields is not None:
                setattr(g, _G, fields)

                @after_this_request
                def _forget(response):
                    response.delete_cookie(COOKIE, path="/")
                    return response
        return None
    if request.method != "POST" or request.endpoint not in POSTED or current_user.is_authenticated:
        return None
    user_id = _former_user_id()
    if user_id is None:
        return None  # nobody to keep it for: login_required answers as before
    token = kept_forms.keep_form(user_id, page, None, list(request.form.items(multi=True)))
    if token is None:
        return None
    flash(_("Uw sessie was verlopen. Uw tekst is bewaard: log opnieuw in, dan staat hij weer in het formulier."),
          "info")
    return redirect(url_for("auth.login", next=_with_token(form_url, token)))


def _with_token(form_url: str, token: str) -> str:
    from ..web.resume import RESUME_ARG

    return f"{form_url}?{RESUME_ARG}={token}"


def keep_form_after_csrf_failure():
    """Called (through ``portal.web.resume.keep_form_after_csrf_failure``)
    by the CSRF error handler for a POST to the question or answer form.
    Keeps the text and answers: with a valid login, a redirect back to the
    form with ``?hervat=``; without one, the "log in again" page (400) with
    the kept form's token in an HttpOnly cookie. ``None`` (the usual CSRF
    error page) for a post not sent by a page of this site, without a
    ``csrf_token`` field, too big, or over the per-address limit."""
    from ..web.resume import _same_origin, _within_limit, kept_without_session_response

    if request.method != "POST" or request.endpoint not in POSTED:
        return None
    if not request.form.get("csrf_token") or not _same_origin():
        return None
    found = _page(request.endpoint, dict(request.view_args or {}))
    if found is None:
        return None
    page, slug, posted, form_url = found
    fields = list(request.form.items(multi=True))
    if current_user.is_authenticated:
        token = kept_forms.keep_form(current_user.id, page, None, fields)
        if token is None:
            return None
        flash(_("Het formulier was verlopen. Uw tekst staat er weer in: controleer hem en verstuur opnieuw."),
              "info")
        return redirect(_with_token(form_url, token))
    if not kept_forms.fits_without_session(fields) or not _within_limit():
        return None
    token = kept_forms.keep_form_without_session(posted, _item_type(posted), slug, fields)
    if token is None:
        return None
    return kept_without_session_response(token, form_url)


def resumed_fields() -> list[tuple[str, str]] | None:
    """The kept form taken out for this request (``[(name, value), ...]``),
    once, with a note to the user that it is back; ``None`` when there is none."""
    fields = g.pop(_G, None)
    if fields is not None:
        flash(_("Uw tekst van daarnet is teruggezet; controleer en verstuur."), "success")
    return fields
