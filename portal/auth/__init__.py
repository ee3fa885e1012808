"""Login and logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import BooleanField, EmailField, PasswordField
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms.validators import DataRequired, Length

from ..database import begin_write
from ..extensions import db, limiter, login_manager
from ..models import User
from ..services.common import audit

bp = Blueprint("auth", __name__)
_DUMMY_HASH = generate_password_hash("not a real password: equal timing for unknown users", method="scrypt")


@login_manager.user_loader
def load_user(user_id: str):
    try:
        return db.session.get(User, int(user_id))
    except (TypeError, ValueError):
        return None


class LoginForm(FlaskForm):
    email = EmailField("E-mailadres", validators=[DataRequired("Vul uw e-mailadres in."), Length(max=320)])
    password = PasswordField("Wachtwoord", validators=[DataRequired("Vul uw wachtwoord in."), Length(max=1024)])
    remember = BooleanField("Ingelogd blijven op dit apparaat")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: no scheme, no host, no ``//`` or ``\\`` tricks."""
    if not target:
        return None
    target = target.strip()
    if any(c in target for c in ("\\", "\r", "\n", "\t")) or not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def _login_limit() -> str:
    from flask import current_app

    return current_app.config["LOGIN_FAILURE_LIMIT"]


@bp.route("/inloggen", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("web.home"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(User).where(User.email == email))
        # Same answer, and the same work, for an unknown user as for a wrong
        # password: otherwise the response time tells which addresses exist.
        if user is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        if user is not None and user.is_active and user.check_password(form.password.data):
            next_url = safe_next(request.args.get("next"))
            lang = session.get("lang")
            session.clear()
            if lang:
                session["lang"] = lang
            login_user(user, remember=bool(form.remember.data))
            begin_write()
            audit(user, "auth.login", user.email)
            db.session.commit()
            flash("U bent ingelogd.", "success")
            return redirect(next_url or url_for("web.home"))
        begin_write()
        audit(None, "auth.login_failed", "")
        db.session.commit()
        error = "Het e-mailadres of het wachtwoord klopt niet."
    return render_template("auth/login.html", form=form, error=error), (400 if error else 200)


@bp.route("/uitloggen", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        begin_write()
        audit(current_user, "auth.logout", current_user.email)
        db.session.commit()
    logout_user()
    session.clear()
    flash("U bent uitgelogd.", "success")
    return redirect(url_for("web.home"))
