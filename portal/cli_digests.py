"""``portal send-digests`` (issue #9): write the due digest e-mails to the
outbox; ``portal send-mail`` sends them where SMTP is configured."""

from __future__ import annotations

import sys
from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext


def _parse_now(value: str | None) -> datetime | None:
    """ISO 8601 -> naive UTC (a time without zone counts as UTC)."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is geen tijd in ISO 8601, bijvoorbeeld 2026-12-01T07:00:00Z.",
                                 param_hint="--now") from None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


@click.command("send-digests")
@click.option("--frequency", type=click.Choice(["daily", "weekly", "monthly"]), default=None,
              help="Alleen leden met deze keuze (standaard: iedereen bij wie een samenvatting aan de beurt is).")
@click.option("--now", "now_text", default=None, metavar="ISO",
              help="Doe alsof het nu dit tijdstip is (UTC als er geen tijdzone bij staat).")
@with_appcontext
def send_digests_command(frequency: str | None, now_text: str | None) -> None:
    """Zet de samenvattingen die aan de beurt zijn in de outbox.

    Per lid één e-mail met wat er nieuw is sinds de vorige samenvatting in wat
    het lid volgt (alleen wat het nu mag zien); lege samenvattingen worden
    overgeslagen. Twee keer draaien verstuurt niets dubbel. Versturen doet
    `portal send-mail`. Voorbeeld (cron, elk uur):

      PORTAL_BASE_URL=https://portaal.example.nl portal send-digests
    """
    from .services.follows import send_digests

    if not (current_app.config.get("BASE_URL") or "").strip():
        click.echo("Fout: PORTAL_BASE_URL is niet ingesteld; de links in de e-mail moeten volledig zijn "
                   "(bijvoorbeeld https://portaal.example.nl).", err=True)
        sys.exit(1)
    result = send_digests(current_app.config, now=_parse_now(now_text), frequency=frequency)
    click.echo(f"Samenvattingen in de outbox: {result['sent']}, leeg (niet verstuurd): {result['empty']}, "
               f"nog niet aan de beurt: {result['not_due']}.")
