"""``portal allow-domain``: the e-mail domain allow-list from the command
line (registered by the ``signup`` blueprint)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext


@click.command("allow-domain")
@click.argument("municipality")
@click.argument("domain")
@click.option("--remove", is_flag=True, help="Haal het domein juist van de lijst.")
@with_appcontext
def allow_domain_command(municipality: str, domain: str, remove: bool) -> None:
    """Let holders of an e-mail address at DOMAIN sign up for MUNICIPALITY
    (CBS code or official name) on their own, after confirming their
    address; or take DOMAIN off the list with --remove. Only an exact
    domain counts: list each subdomain you want.

    \b
    Examples:
      portal allow-domain GM0503 delft.nl
      portal allow-domain GM0503 delft.nl --remove
    """
    from ..errors import PortalError, ValidationFailed
    from ..services.items import SYSTEM
    from .service import add_domain, normalise_domain, remove_domain

    try:
        if remove:
            remove_domain(SYSTEM, municipality, domain)
        else:
            row = add_domain(SYSTEM, municipality, domain)
    except ValidationFailed as exc:
        click.echo("Fout: " + " ".join(" ".join(v) for v in exc.errors.values()), err=True)
        sys.exit(1)
    except PortalError as exc:
        click.echo(f"Fout: {exc.message}", err=True)
        sys.exit(1)
    if remove:
        click.echo(f"{normalise_domain(domain)} staat niet meer op de lijst van {municipality}.")
    else:
        click.echo(f"{row.domain} is toegestaan voor {row.municipality.name} ({row.municipality.cbs_code}).")
