"""``portal api-token``: make, list and revoke API tokens from the command line."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import select


def _user(email: str):
    from ..extensions import db
    from ..models import User

    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        click.echo(f"Fout: er is geen gebruiker met e-mailadres {email}.", err=True)
        sys.exit(1)
    return user


@click.group("api-token", help="API-sleutels maken, tonen en intrekken.")
def api_token_group() -> None:
    pass


@api_token_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="Waarvoor de sleutel is (zichtbaar in de lijst).")
@with_appcontext
def create_command(email: str, name: str) -> None:
    """Make an API token for the user EMAIL and print it once.

    \b
    Example:
      portal api-token create lid@delft.nl --name "koppeling intranet"
    """
    from ..errors import ValidationFailed
    from ..services.api_tokens import create_token
    from ..services.items import SYSTEM

    try:
        row, token = create_token(SYSTEM, _user(email), name)
    except ValidationFailed as exc:
        click.echo(f"Fout: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"Sleutel {row.id} gemaakt voor {email}. Hij wordt maar één keer getoond:", err=True)
    click.echo(token)


@api_token_group.command("list")
@click.argument("email")
@with_appcontext
def list_command(email: str) -> None:
    """List the API tokens of the user EMAIL (their first characters only).

    \b
    Example:
      portal api-token list lid@delft.nl
    """
    from ..services.api_tokens import list_tokens
    from ..services.items import SYSTEM

    rows = list_tokens(SYSTEM, _user(email))
    for t in rows:
        state = "actief" if t.active else f"ingetrokken {t.revoked_at:%Y-%m-%d}"
        click.echo(f"{t.id}\t{t.prefix}…\t{t.created_at:%Y-%m-%d}\t{state}\t{t.name}")
    click.echo(f"{len(rows)} sleutel(s).", err=True)


@api_token_group.command("revoke")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_command(token_id: int) -> None:
    """Revoke the API token with id TOKEN_ID (see ``portal api-token list``).

    \b
    Example:
      portal api-token revoke 3
    """
    from ..errors import NotFound
    from ..services.api_tokens import revoke_token
    from ..services.items import SYSTEM

    try:
        revoke_token(SYSTEM, token_id)
    except NotFound as exc:
        click.echo(f"Fout: {exc.message}", err=True)
        sys.exit(1)
    click.echo(f"Sleutel {token_id} ingetrokken.")


@click.command("follow")
@click.argument("url")
@click.option("--type", "types", multiple=True, type=click.Choice(["practice", "lesson"]),
              help="Alleen dit soort items (herhaal voor meer); standaard werkwijzen en lessen.")
@with_appcontext
def follow_command(url: str, types: tuple[str, ...]) -> None:
    """Follow another portal: import its public practices and lessons through
    its API, marked with their source (``source`` in the front matter), and
    bring them up to date. Run it again (for example daily, from cron or a
    systemd timer) to pick up changes; items the other portal no longer
    shows publicly are withdrawn here (set to draft).

    \b
    Examples:
      portal follow https://kennisportaal.regio-haaglanden.nl
      portal follow http://127.0.0.1:8001 --type practice
    """
    from ..errors import PortalError
    from ..services.items import SYSTEM
    from .follow import follow_portal

    try:
        click.echo(f"Volgen: {url} ...", err=True)
        report = follow_portal(SYSTEM, url, types=tuple(types) or ("practice", "lesson"))
    except PortalError as exc:
        click.echo(f"Fout: {exc.message}", err=True)
        sys.exit(1)
    for problem in report.problems:
        click.echo(f"OVERGESLAGEN {problem}", err=True)
    for label in report.withdrawn:
        click.echo(f"INGETROKKEN {label}", err=True)
    for label in report.kept:
        click.echo(f"HIER GEARCHIVEERD OF INGETROKKEN, NIET OPNIEUW GEPUBLICEERD {label}", err=True)
    click.echo(f"{len(report.created)} nieuw, {len(report.updated)} bijgewerkt, "
               f"{len(report.unchanged)} ongewijzigd, {len(report.withdrawn)} ingetrokken, "
               f"{len(report.problems)} overgeslagen.")
    if report.problems:
        sys.exit(1)
