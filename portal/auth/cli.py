"""``portal`` commands for accounts and the deployment check (registered by
``portal.cli.register_commands``)."""

from __future__ import annotations

import sys

import click
from flask import current_app, url_for
from flask.cli import with_appcontext

from ..models.users import ALL_ROLES


def _die(message: str) -> None:
    click.echo(f"Fout: {message}", err=True)
    sys.exit(1)


@click.command("password-reset")
@click.argument("email")
@with_appcontext
def password_reset_command(email: str) -> None:
    """Make a password-reset link for EMAIL and print it (no e-mail is sent:
    pass the link on yourself). It works once, for one hour; a newer link
    replaces it.

    \b
    Example:
      portal password-reset an.jansen@delft.nl
    """
    from ..errors import PortalError
    from ..services.accounts import issue_password_reset
    from ..services.items import SYSTEM

    try:
        user, token = issue_password_reset(SYSTEM, email)
    except PortalError as exc:
        _die(exc.message)
    with current_app.test_request_context():
        path = url_for("auth.reset_password", token=token)
    from ..links import site_root

    base = site_root(current_app.config)  # BASE_URL (no request here: never a Host header)
    click.echo(f"Herstellink voor {user.email} (één keer bruikbaar, één uur geldig):")
    click.echo(f"  {base}{path}")
    if not base:
        click.echo("(Zet PORTAL_BASE_URL om een volledige link te krijgen; zet nu het adres van het portaal ervoor.)")


@click.command("deactivate-user")
@click.argument("email")
@click.option("--activate", is_flag=True, help="Zet het account juist weer aan.")
@with_appcontext
def deactivate_user_command(email: str, activate: bool) -> None:
    """Switch the account EMAIL off (every session of it ends at once and its
    API keys are revoked), or on again with --activate.

    \b
    Examples:
      portal deactivate-user an.jansen@delft.nl
      portal deactivate-user an.jansen@delft.nl --activate
    """
    from ..errors import PortalError
    from ..services.accounts import set_active
    from ..services.items import SYSTEM

    try:
        user = set_active(SYSTEM, email, activate)
    except PortalError as exc:
        _die(exc.message)
    click.echo(f"Account {user.email} {'geactiveerd' if activate else 'gedeactiveerd; alle sessies zijn beëindigd en API-sleutels ingetrokken'}.")


@click.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(list(ALL_ROLES)))
@with_appcontext
def set_role_command(email: str, role: str) -> None:
    """Give the account EMAIL another ROLE; its sessions end and its API keys
    are revoked, so the change holds from the next login.

    \b
    Example:
      portal set-role an.jansen@delft.nl curator
    """
    from ..errors import PortalError
    from ..services.accounts import set_role
    from ..services.items import SYSTEM

    try:
        user = set_role(SYSTEM, email, role)
    except PortalError as exc:
        _die(exc.message)
    click.echo(f"{user.email} heeft nu de rol {user.role}.")


@click.command("set-municipality")
@click.argument("email")
@click.argument("municipality")
@with_appcontext
def set_municipality_command(email: str, municipality: str) -> None:
    """Put the account EMAIL in MUNICIPALITY (the official name, or the CBS
    code). The member then sees what members of that municipality and its
    region see, from their next page.

    \b
    Examples:
      portal set-municipality an.jansen@delft.nl Delft
      portal set-municipality an.jansen@delft.nl GM0503
      portal set-municipality piet@bergen.nl "Bergen (NH.)"
    """
    from ..errors import PortalError, ValidationFailed
    from ..services.accounts import set_municipality
    from ..services.items import SYSTEM

    try:
        user = set_municipality(SYSTEM, email, municipality)
    except ValidationFailed as exc:
        _die(" ".join(" ".join(v) for v in exc.errors.values()))
    except PortalError as exc:
        _die(exc.message)
    click.echo(f"{user.email} hoort nu bij de gemeente {user.municipality.name} ({user.municipality.cbs_code}).")


@click.command("end-sessions")
@click.argument("email", required=False)
@click.option("--all", "everyone", is_flag=True, help="Beëindig de sessies van alle gebruikers.")
@with_appcontext
def end_sessions_command(email: str | None, everyone: bool) -> None:
    """End every session (and remember-me cookie) of EMAIL, or of all users
    with --all, and revoke their API keys; they must log in again (and make
    a new key).

    \b
    Examples:
      portal end-sessions an.jansen@delft.nl
      portal end-sessions --all
    """
    from ..errors import PortalError
    from ..services.accounts import end_sessions_for
    from ..services.items import SYSTEM

    if bool(email) == bool(everyone):
        _die("Geef één e-mailadres, of --all.")
    try:
        n = end_sessions_for(SYSTEM, None if everyone else email)
    except PortalError as exc:
        _die(exc.message)
    click.echo(f"Sessies beëindigd en API-sleutels ingetrokken van {n} {'gebruiker' if n == 1 else 'gebruikers'}.")


@click.command("reset-totp")
@click.argument("email")
@with_appcontext
def reset_totp_command(email: str) -> None:
    """Remove the second factor (TOTP) of EMAIL, e.g. after a lost phone.
    Every session of the account ends and its API keys are revoked; the
    user logs in with the password alone and sets it up again (an admin or
    privacy officer is sent to that page at once).

    \b
    Example:
      portal reset-totp an.jansen@delft.nl
    """
    from ..errors import PortalError
    from ..services.accounts import reset_totp
    from ..services.items import SYSTEM

    try:
        user = reset_totp(SYSTEM, email)
    except PortalError as exc:
        _die(exc.message)
    click.echo(f"Tweestapsverificatie van {user.email} verwijderd; alle sessies zijn beëindigd en API-sleutels ingetrokken.")


@click.command("check-deploy")
@with_appcontext
def check_deploy_command() -> None:
    """Check this configuration (the PORTAL_* environment) as a production
    set-up; print every problem in plain words and exit 1 when any would
    make the portal unsafe. Warnings alone exit 0.

    \b
    Example:
      PORTAL_ENV=production portal check-deploy
    """
    from ..services.accounts import deployment_problems

    errors, warnings = deployment_problems(current_app.config)
    for text in errors:
        click.echo(f"PROBLEEM {text}")
    for text in warnings:
        click.echo(f"WAARSCHUWING {text}")
    if errors:
        click.echo(f"{len(errors)} {'probleem' if len(errors) == 1 else 'problemen'}: niet geschikt voor productie.")
        sys.exit(1)
    click.echo("Geen problemen gevonden" + (f" ({len(warnings)} waarschuwingen)." if warnings else "."))


COMMANDS = (password_reset_command, deactivate_user_command, set_role_command, end_sessions_command,
            set_municipality_command, check_deploy_command, reset_totp_command)
