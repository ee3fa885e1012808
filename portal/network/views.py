"""Views of the network: meetings (/bijeenkomsten) and questions (/vragen).
Thin: parse input, call the services in ``meetings`` and ``questions``, render."""

from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from .. import permissions, taxonomy
from ..errors import ValidationFailed
from ..extensions import db
from ..i18n import N_
from ..markdown import render
from ..models import MEETING_KINDS, Municipality, Region
from . import bp
from . import kept as kept_service
from . import meetings as meeting_service
from . import questions as question_service
from .common import ID, long_datetime, parse_int

NO_STORE = {"Cache-Control": "private, no-store", "X-Robots-Tag": "noindex"}

#: The labels of ``MEETING_KINDS`` (Dutch, also in the iCalendar files), marked
#: for translation; pages show them through :func:`_kinds`.
_KIND_LABELS = (N_("Brede netwerkbijeenkomst"), N_("Trainingsdag"), N_("Informatieavond"),
                N_("Andere bijeenkomst"))


def _kinds() -> dict[str, str]:
    """``MEETING_KINDS`` with its labels in the interface language."""
    return {key: _(label) for key, label in MEETING_KINDS.items()}  # noqa: INT001 (marked in _KIND_LABELS)


# -- meetings --------------------------------------------------------------------------
@bp.app_template_filter("localtime")
def _localtime(value, fmt: str | None = None) -> str:
    """Naive UTC -> Amsterdam time: by default the Dutch long date of the
    ``nldate`` filter plus the time (``10 december 2026 19:30``), in the
    interface language; ``fmt`` (strftime) for anything else, e.g. ``%H:%M``."""
    local = meeting_service.to_local(value)
    if local is None:
        return ""
    if fmt:
        return local.strftime(fmt)
    return long_datetime(local, locale=str(get_locale() or "nl"))


@bp.route("/bijeenkomsten")
def meetings():
    region_id = parse_int(request.args.get("regio"))
    regions = db.session.scalars(select(Region).order_by(Region.name)).all()
    region = next((r for r in regions if r.id == region_id), None)
    return render_template(
        "network/meetings.html",
        upcoming=meeting_service.list_meetings(region.id if region else None, upcoming=True),
        past=meeting_service.list_meetings(region.id if region else None, upcoming=False, limit=20),
        regions=regions, region=region, kinds=_kinds(),
        may_organise=permissions.can_curate(current_user),
    )


def _meeting_form(values: dict, errors: dict | None = None, meeting=None, status: int = 200):
    return render_template(
        "network/meeting_form.html", values=values, errors=errors or {}, meeting=meeting,
        kinds=_kinds(), regions=meeting_service.organisable_regions(current_user),
        national=permissions.can_organise_meeting(current_user, None),
    ), status


FORM_FIELDS = ("title", "kind", "description", "starts_at", "ends_at", "place", "online_url", "capacity", "region")


@bp.route("/bijeenkomsten/nieuw", methods=["GET", "POST"])
@login_required
def create_meeting():
    if not permissions.can_curate(current_user):
        abort(403)
    if request.method == "GET":
        return _meeting_form({"kind": "netwerkbijeenkomst",
                              "region": str(current_user.region_id or "")})
    values = {k: request.form.get(k, "") for k in FORM_FIELDS}
    try:
        meeting = meeting_service.save_meeting(current_user, values)
    except ValidationFailed as exc:
        db.session.rollback()
        return _meeting_form(values, exc.errors, status=400)
    flash(_("De bijeenkomst is aangemaakt."), "success")
    return redirect(url_for("network.meeting", meeting_id=meeting.id))


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/bewerken", methods=["GET", "POST"])
@login_required
def edit_meeting(meeting_id: int):
    meeting = meeting_service.get_meeting(meeting_id)
    if not permissions.can_manage_meeting(current_user, meeting):
        abort(403)
    if request.method == "GET":
        values = {k: getattr(meeting, k, "") for k in ("title", "kind", "description", "place", "online_url")}
        values.update(starts_at=meeting_service.local_input(meeting.starts_at),
                      ends_at=meeting_service.local_input(meeting.ends_at),
                      capacity=str(meeting.capacity or ""), region=str(meeting.region_id or ""))
        return _meeting_form(values, meeting=meeting)
    values = {k: request.form.get(k, "") for k in FORM_FIELDS}
    try:
        meeting_service.save_meeting(current_user, values, meeting=meeting)
    except ValidationFailed as exc:
        db.session.rollback()
        return _meeting_form(values, exc.errors, meeting=meeting, status=400)
    flash(_("De bijeenkomst is bijgewerkt."), "success")
    return redirect(url_for("network.meeting", meeting_id=meeting_id))


def _meeting_page(meeting, errors: dict | None = None, report: dict | None = None, status: int = 200):
    reg, position = meeting_service.registration_of(current_user, meeting)
    manage = permissions.can_manage_meeting(current_user, meeting)
    response = render_template(
        "network/meeting.html", meeting=meeting, seats=meeting_service.seats(meeting),
        registration=reg, position=position, manage=manage,
        details=permissions.can_view_meeting_details(current_user, meeting),
        description=render(meeting.description), notes=render(meeting.notes),
        related=meeting_service.related_items(current_user, meeting),
        kinds=_kinds(), errors=errors or {},
        report=report or {"notes": meeting.notes, "related": ", ".join(meeting.related or [])},
        now=meeting_service.utcnow(),
    )
    return response, status


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>")
def meeting(meeting_id: int):
    return _meeting_page(meeting_service.get_meeting(meeting_id))


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/aanmelden", methods=["POST"])
@login_required
def register(meeting_id: int):
    try:
        reg = meeting_service.register(current_user, meeting_id)
    except ValidationFailed as exc:
        db.session.rollback()
        return _meeting_page(meeting_service.get_meeting(meeting_id), errors=exc.errors, status=400)
    if reg.status == "confirmed":
        flash(_("U bent aangemeld. Zet de bijeenkomst in uw agenda met het agendabestand."), "success")
    else:
        flash(_("De bijeenkomst is vol: u staat op de wachtlijst. Komt er een plaats vrij, dan schuift u door."),
              "info")
    return redirect(url_for("network.meeting", meeting_id=meeting_id))


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/afmelden", methods=["POST"])
@login_required
def cancel(meeting_id: int):
    meeting_service.cancel(current_user, meeting_id)
    flash(_("U bent afgemeld."), "success")
    return redirect(url_for("network.meeting", meeting_id=meeting_id))


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/verslag", methods=["POST"])
@login_required
def meeting_report(meeting_id: int):
    meeting = meeting_service.get_meeting(meeting_id)
    notes = request.form.get("notes", "")
    related_text = request.form.get("related", "")
    related = [s for s in related_text.replace("\n", ",").split(",")]
    try:
        meeting_service.save_report(current_user, meeting, notes, related)
    except ValidationFailed as exc:
        db.session.rollback()
        return _meeting_page(meeting_service.get_meeting(meeting_id), errors=exc.errors,
                             report={"notes": notes, "related": related_text}, status=400)
    flash(_("Het verslag is opgeslagen."), "success")
    return redirect(url_for("network.meeting", meeting_id=meeting_id))


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/deelnemers")
@login_required
def attendees(meeting_id: int):
    meeting = meeting_service.get_meeting(meeting_id)
    rows = meeting_service.attendees(current_user, meeting)
    return render_template("network/attendees.html", meeting=meeting, rows=rows), 200, NO_STORE


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/deelnemers.csv")
@login_required
def attendees_csv(meeting_id: int):
    meeting = meeting_service.get_meeting(meeting_id)
    text = meeting_service.attendees_csv(current_user, meeting)
    return Response("\ufeff" + text, mimetype="text/csv", headers={
        **NO_STORE, "Content-Disposition": f'attachment; filename="deelnemers-bijeenkomst-{meeting.id}.csv"'})


def _calendar(meetings: list, name: str, filename: str) -> Response:
    body = meeting_service.icalendar_bytes(
        current_user, meetings, name=name, host=request.host.split(":")[0] or "portal",
        url_for_meeting=lambda m: url_for("network.meeting", meeting_id=m.id, _external=True))
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if current_user.is_authenticated:
        headers.update(NO_STORE)
    return Response(body, mimetype="text/calendar", headers=headers)


@bp.route(f"/bijeenkomsten/<{ID}:meeting_id>/agenda.ics")
def meeting_ics(meeting_id: int):
    meeting = meeting_service.get_meeting(meeting_id)
    return _calendar([meeting], meeting.title, f"bijeenkomst-{meeting.id}.ics")


@bp.route(f"/bijeenkomsten/regio/<{ID}:region_id>/agenda.ics")
def region_ics(region_id: int):
    region = db.session.get(Region, region_id)
    if region is None:
        abort(404)
    rows = meeting_service.list_meetings(region.id, upcoming=True)
    return _calendar(rows, f"Bijeenkomsten {region.name}", f"bijeenkomsten-regio-{region.id}.ics")


# -- questions -------------------------------------------------------------------------
@bp.route("/vragen")
@login_required
def questions():
    q = request.args.get("q", "")[:question_service.MAX_QUERY]
    theme = request.args.get("thema", "")
    phase = request.args.get("fase", "")
    followed = request.args.get("gevolgd") == "1"
    rows = question_service.list_questions(current_user, q=q, theme=theme, phase=phase, followed=followed)
    return render_template("network/questions.html", rows=rows, q=q, theme=theme, phase=phase,
                           followed=followed, taxonomy=taxonomy, is_locked=question_service.is_locked,
                           ), 200, NO_STORE


def _question_values(form) -> dict:
    """The question form's fields from a ``MultiDict`` (a post, or a kept form)."""
    return {"title": form.get("title", ""), "body": form.get("body", ""),
            "themes": form.getlist("themes"), "phase": form.get("phase", ""),
            "municipality": form.get("municipality", "")}


def _question_form(values: dict, errors: dict | None = None, status: int = 200):
    munis = db.session.scalars(select(Municipality).order_by(Municipality.name)).all()
    themes = question_service.vocabulary().allowed("theme")
    return render_template("network/question_form.html", values=values, errors=errors or {},
                           municipalities=munis, themes=themes, taxonomy=taxonomy), status, NO_STORE


@bp.route("/vragen/nieuw", methods=["GET", "POST"])
@login_required
def ask():
    if not permissions.can_ask(current_user):
        abort(403)
    if request.method == "GET":
        kept = kept_service.resumed_fields()  # the text of a post that did not arrive (issue #4)
        if kept is not None:
            return _question_form(_question_values(MultiDict(kept)))
        return _question_form({"title": request.args.get("titel", "")[:300], "themes": []})
    values = _question_values(request.form)
    try:
        question = question_service.ask_question(current_user, values)
    except ValidationFailed as exc:
        db.session.rollback()
        return _question_form(values, exc.errors, status=400)
    flash(_("Uw vraag staat op het netwerk. U volgt haar automatisch."), "success")
    return redirect(url_for("network.question", question_id=question.id))


def _question_page(question, errors: dict | None = None, answer_text: str = "", status: int = 200,
                   kept: bool = False):
    return render_template(
        "network/question.html", question=question, html=render(question.body),
        answers=[(a, render(a.body)) for a in question.answers],
        locked=question_service.is_locked(question), following=question_service.follows(current_user, question),
        settle=permissions.can_settle_question(current_user, question),
        make_lesson=permissions.can_make_lesson_from_answer(current_user, question),
        lessons=question_service.lessons_from(current_user, question),
        errors=errors or {}, answer_text=answer_text, kept=kept,
    ), status, NO_STORE


@bp.route(f"/vragen/<{ID}:question_id>")
@login_required
def question(question_id: int):
    question = question_service.get_question(current_user, question_id)
    kept = kept_service.resumed_fields()  # an answer that did not arrive (issue #4)
    if kept is not None:
        return _question_page(question, answer_text=MultiDict(kept).get("body", ""), kept=True)
    return _question_page(question)


@bp.route(f"/vragen/<{ID}:question_id>/antwoorden", methods=["POST"])
@login_required
def answer(question_id: int):
    body = request.form.get("body", "")
    try:
        question_service.answer_question(current_user, question_id, body)
    except ValidationFailed as exc:
        db.session.rollback()
        return _question_page(question_service.get_question(current_user, question_id),
                              errors=exc.errors, answer_text=body, status=400)
    flash(_("Uw antwoord is geplaatst."), "success")
    return redirect(url_for("network.question", question_id=question_id))


@bp.route(f"/vragen/<{ID}:question_id>/antwoorden/<{ID}:answer_id>/beste", methods=["POST"])
@login_required
def best(question_id: int, answer_id: int):
    answer = question_service.mark_best(current_user, question_id, answer_id)
    flash(_("Gemarkeerd als beste antwoord.") if answer.best else _("Niet meer gemarkeerd als beste antwoord."),
          "success")
    return redirect(url_for("network.question", question_id=question_id))


@bp.route(f"/vragen/<{ID}:question_id>/sluiten", methods=["POST"])
@login_required
def close(question_id: int):
    question_service.close_question(current_user, question_id)
    flash(_("De vraag is gesloten."), "success")
    return redirect(url_for("network.question", question_id=question_id))


@bp.route(f"/vragen/<{ID}:question_id>/volgen", methods=["POST"])
@login_required
def follow(question_id: int):
    on = request.form.get("action") != "unfollow"
    question_service.set_follow(current_user, question_id, on)
    flash(_("U volgt deze vraag.") if on else _("U volgt deze vraag niet meer."), "success")
    return redirect(url_for("network.question", question_id=question_id))


@bp.route(f"/vragen/<{ID}:question_id>/antwoorden/<{ID}:answer_id>/les", methods=["POST"])
@login_required
def make_lesson(question_id: int, answer_id: int):
    try:
        item = question_service.lesson_from_answer(current_user, question_id, answer_id)
    except ValidationFailed as exc:
        db.session.rollback()
        return _question_page(question_service.get_question(current_user, question_id),
                              errors=exc.errors, status=400)
    flash(_("Er is een concept-les gemaakt van dit antwoord. Werk haar bij en publiceer haar."), "success")
    return redirect(url_for("web.edit", type_path="lessen", slug=item.slug))
