"""The ``portal`` command line: thin click wrappers over the services.

``portal --help`` lists every command; ``portal COMMAND --help`` explains one,
with examples. Flask-Migrate's ``portal db ...`` commands come along.
"""

from __future__ import annotations

import json
import os
import sys

import click
from flask import current_app
from flask.cli import FlaskGroup, with_appcontext
from sqlalchemy import func, select


def _create_app():
    from . import create_app
    from .config import InsecureConfiguration

    ctx = click.get_current_context(silent=True)
    command = ctx.meta.get(COMMAND_META) if ctx is not None else None
    if command == "check-deploy":
        return create_app({"CHECK_PRODUCTION": False})  # it lists every problem itself
    try:
        return create_app()
    except InsecureConfiguration as exc:
        if command is None:  # listing the commands (--help) is harmless
            return create_app({"CHECK_PRODUCTION": False})
        _die(f"{exc} Het portaal start zo niet; `portal check-deploy` noemt alle problemen.")


COMMAND_META = "portal.command"


class PortalGroup(FlaskGroup):
    """Flask's group, noting which command is asked for before the app is
    made (Flask makes it while looking the command up), so that an unsafe
    production configuration stops every command except ``check-deploy``."""

    def get_command(self, ctx, name):
        ctx.meta.setdefault(COMMAND_META, name)
        return super().get_command(ctx, name)


@click.group(cls=PortalGroup, create_app=_create_app, add_default_commands=False,
             help="Kennisportaal sleutelfiguren: beheer vanaf de opdrachtregel.")
def main() -> None:
    pass


def _die(message: str) -> None:
    click.echo(f"Fout: {message}", err=True)
    sys.exit(1)


def register_commands(app) -> None:
    for cmd in (init_command, import_command, export_command, reindex_command,
                create_user_command, serve_command, search_command, index_check_command,
                backup_command, restore_command, region_command, search_index_group):
        app.cli.add_command(cmd)
    app.cli.add_command(consent_check_command)
    app.cli.add_command(send_mail_command)
    app.cli.add_command(prune_search_log_command)
    from .cli_digests import send_digests_command; app.cli.add_command(send_digests_command)  # noqa: E702 issue #9
    from .auth.cli import COMMANDS as account_commands

    for cmd in account_commands:
        app.cli.add_command(cmd)


@click.command("consent-check")
@with_appcontext
def consent_check_command() -> None:
    """Keep the consent of key figures current (run daily from a timer):
    reminds the curators of a profile's region a month before its consent
    expires (an in-app notification, once), and unpublishes every profile
    whose consent has expired (revision, search index, audit).

    \b
    Example:
      portal consent-check
    """
    from .services.people import consent_check

    report = consent_check()
    for line in report.reminded:
        click.echo(f"Herinnering gestuurd: {line}")
    for title in report.unpublished:
        click.echo(f"Gedepubliceerd (toestemming verlopen): {title}")
    click.echo(f"{len(report.reminded)} herinneringen, {len(report.unpublished)} profielen gedepubliceerd.")


@click.command("init")
@click.option("--no-content", is_flag=True, help="Laad de startbibliotheek niet, ook niet bij een lege database.")
@with_appcontext
def init_command(no_content: bool) -> None:
    """Prepare everything: database schema, municipalities, starter library
    (only when the database has no items), a first administrator (only when
    there is none; the random password is printed once) and the search index.

    Safe to run again: it changes nothing that is already in place.

    \b
    Example:
      portal init
    """
    from .services.setup import initialise

    report = initialise(load_content=not no_content)
    click.echo(f"Gemeenten: {report.municipalities} in de referentielijst (CBS 2025).")
    if report.imported is not None:
        click.echo(f"Startbibliotheek uit {current_app.config['CONTENT_DIR']}: {report.imported} items geïmporteerd.")
    for problem in report.problems:
        click.echo(f"  GEWEIGERD {problem}", err=True)
    if report.admin_password:
        click.echo("")
        click.echo("Beheerder aangemaakt. Dit wachtwoord wordt maar één keer getoond:")
        click.echo(f"  e-mail:     {report.admin_email}")
        click.echo(f"  wachtwoord: {report.admin_password}")
        click.echo("")
    if report.index_rebuilt:
        click.echo("Zoekindex opgebouwd.")
    else:
        click.echo(f"Zoekindex bijgewerkt ({report.changes_applied} wijzigingen).")


@click.command("import")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def import_command(directory: str) -> None:
    """Import a library folder in the content format: practices/, profiles/,
    lessons/ and an optional taxonomy.yaml.

    Every file is checked; good files are imported, bad ones reported with
    path, line and key. Importing again updates, never duplicates. Exits
    with status 1 when any file was refused.

    \b
    Example:
      portal import content/
    """
    from .exchange import library_files
    from .services.items import SYSTEM
    from .services.library import import_library

    from pathlib import Path

    total = len(library_files(Path(directory))) if Path(directory).is_dir() else 0
    with click.progressbar(length=total, label="Importeren", file=sys.stderr) as bar:
        report = import_library(SYSTEM, directory, progress=bar.update)
    for note in report.notes:
        click.echo(f"LET OP {note}", err=True)
    for problem in report.problems:
        click.echo(f"GEWEIGERD {problem}", err=True)
    n = len(report.problems)
    click.echo(f"{len(report.created)} nieuw, {len(report.updated)} bijgewerkt, "
               f"{len(report.unchanged)} ongewijzigd, {n} {'probleem' if n == 1 else 'problemen'}.")
    if report.problems:
        sys.exit(1)


@click.command("export")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def export_command(directory: str) -> None:
    """Write every item, drafts and profiles included, to DIRECTORY in the
    content format. Profiles carry contact details: keep the folder safe.

    \b
    Example:
      portal export /tmp/bibliotheek
    """
    from .extensions import db
    from .models import Item
    from .services.items import SYSTEM
    from .services.library import export_library

    total = db.session.scalar(select(func.count(Item.id))) or 0
    with click.progressbar(length=total, label="Exporteren", file=sys.stderr) as bar:
        n = export_library(SYSTEM, directory, progress=bar.update)
    click.echo(f"{n} items geschreven naar {directory}.")


@click.command("reindex")
@click.option("--catch-up", is_flag=True, help="Alleen openstaande wijzigingen verwerken in plaats van alles opnieuw.")
@with_appcontext
def reindex_command(catch_up: bool) -> None:
    """Rebuild the search index from the database in a new folder and swap it
    in; with --catch-up, only apply changes still waiting in the change log.

    \b
    Examples:
      portal reindex
      portal reindex --catch-up
    """
    from . import search
    from .extensions import db
    from .models import Item

    if catch_up:
        search.ensure_index()
        click.echo(f"{search.catch_up()} wijzigingen verwerkt.")
        return
    total = db.session.scalar(select(func.count(Item.id))) or 0
    with click.progressbar(length=total, label="Indexeren", file=sys.stderr) as bar:
        n = search.rebuild(progress=bar.update)
    click.echo(f"{n} items geïndexeerd.")


@click.command("search-index-check")
@with_appcontext
def index_check_command() -> None:
    """List items missing from the search index and index entries whose item
    no longer exists. Exits with status 1 when anything is off."""
    from . import search

    result = search.check()
    for key, rows in result.items():
        for row in rows:
            click.echo(f"{key}: {row}")
    click.echo(f"{len(result['missing'])} ontbrekend, {len(result['orphaned'])} verweesd.")
    if any(result.values()):
        sys.exit(1)


@click.group("search-index")
def search_index_group() -> None:
    """The search index (derived from the database).

    \b
    Example:
      portal search-index check
    """


# `portal search-index check` (the spelling) and `portal search-index-check` are one command.
search_index_group.add_command(index_check_command, name="check")


@click.command("region")
@click.argument("name")
@click.argument("municipalities", nargs=-1, required=True)
@with_appcontext
def region_command(name: str, municipalities: tuple[str, ...]) -> None:
    """Put municipalities in a region (regionaal samenwerkingsverband); the
    region is made when it does not exist. A region's curators review and
    publish for all its municipalities.

    \b
    Example:
      portal region Haaglanden Delft "'s-Gravenhage" Zoetermeer "Rijswijk (ZH.)"
    """
    from .errors import ValidationFailed
    from .services.items import SYSTEM
    from .services.library import set_region

    try:
        region, found = set_region(SYSTEM, name, list(municipalities))
    except ValidationFailed as exc:
        _die("; ".join(" ".join(v) for v in exc.errors.values()))
    click.echo(f"Regio {region.name}: {', '.join(m.name for m in found)}.")


@click.command("backup")
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def backup_command(directory: str) -> None:
    """Write a consistent backup of the database into DIRECTORY (SQLite: an
    online copy, safe while the portal runs; PostgreSQL: pg_dump). The search
    index needs no backup: it is rebuilt from the database.

    \b
    Example:
      portal backup /var/backups/portal
    """
    from .ops import backup

    try:
        path = backup(directory)
    except RuntimeError as exc:
        _die(str(exc))
    click.echo(f"Back-up geschreven: {path}")


@click.command("restore")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Niet om bevestiging vragen.")
@with_appcontext
def restore_command(path: str, yes: bool) -> None:
    """Replace the database with a backup made by `portal backup`, then
    rebuild the search index. Stop the web workers first.

    \b
    Example:
      portal restore /var/backups/portal/portal-20261129-020000.sqlite3 --yes
    """
    from .ops import restore

    if not yes:
        click.confirm("Alle huidige gegevens worden vervangen door de back-up. Doorgaan?", abort=True)
    try:
        restore(path)
    except (RuntimeError, FileNotFoundError) as exc:
        _die(str(exc))
    click.echo("Back-up teruggezet en zoekindex opnieuw opgebouwd.")


@click.command("create-user")
@click.argument("email")
@click.option("--role", type=click.Choice(["member", "contributor", "curator", "admin", "privacy"]), default="member", show_default=True)
@click.option("--name", default="", help="Naam zoals getoond in het portaal.")
@click.option("--municipality", default=None, help="Officiële naam of CBS-code van de gemeente.")
@click.option("--password", default=None, help="Laat weg voor een willekeurig wachtwoord (wordt één keer getoond).")
@with_appcontext
def create_user_command(email: str, role: str, name: str, municipality: str | None, password: str | None) -> None:
    """Create a user account.

    \b
    Example:
      portal create-user an.jansen@delft.nl --role curator --municipality Delft
    """
    from .errors import ValidationFailed
    from .services.items import SYSTEM
    from .services.library import create_user

    try:
        user, pw = create_user(SYSTEM, email, role, name=name, password=password, municipality=municipality)
    except ValidationFailed as exc:
        _die("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()))
    click.echo(f"Gebruiker {user.email} ({user.role}) aangemaakt.")
    if password is None:
        click.echo(f"Wachtwoord (wordt één keer getoond): {pw}")


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="Aantal gunicorn-workers (standaard: 2 × kernen + 1, hoogstens 8).")
def serve_command(host: str, port: int, workers: int | None) -> None:
    """Serve the portal with gunicorn (a production WSGI server).

    \b
    Example:
      portal serve --port 8000
    """
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers or min(8, 2 * (os.cpu_count() or 1) + 1))
            from .logs import ACCESS_LOG_FORMAT

            self.cfg.set("accesslog", "-")
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("timeout", 60)
            self.cfg.set("limit_request_line", 8190)  # as gunicorn.conf.py: long search links

        def load(self):
            return _create_app()

    click.echo(f"Het portaal draait op http://{host}:{port}  (stoppen: Ctrl+C)")
    Server().run()


@click.command("search")
@click.argument("query", nargs=-1)
@click.option("--type", "item_type", type=click.Choice(["practice", "profile", "lesson"]), default=None)
@click.option("--phase", type=click.Choice(["opzetten", "werving-selectie", "onderhouden"]), default=None)
@click.option("--municipality", default=None, help="Officiële naam of CBS-code.")
@click.option("--limit", default=10, show_default=True, type=click.IntRange(1, 100))
@click.option("--user", "user_email", default=None, help="Zoek als deze gebruiker (standaard: als anonieme bezoeker).")
@click.option("--json", "as_json", is_flag=True, help="Uitvoer als JSON.")
@with_appcontext
def search_command(query, item_type, phase, municipality, limit, user_email, as_json) -> None:
    """Search as an anonymous visitor, or as --user.

    \b
    Examples:
      portal search sleutelfiguren werven
      portal search "wie spreekt Somalisch" --user an@delft.nl --json
    """
    from . import search
    from .extensions import db
    from .models import User
    from .services.common import municipality_resolver
    from .web.filters import TYPE_PATHS

    text = " ".join(query)
    user = None
    if user_email:
        user = db.session.scalar(select(User).where(User.email == user_email.strip().lower()))
        if user is None:
            _die(f"geen gebruiker met e-mailadres {user_email}")
    filters: dict[str, list[str]] = {}
    if item_type:
        filters["type"] = [item_type]
    if phase:
        filters["phase"] = [phase]
    if municipality:
        found = municipality_resolver()(municipality)
        if found is None:
            _die(f"onbekende gemeente '{municipality}'")
        filters["municipality"] = [found.cbs_code]
    result = search.search(user, text, filters=filters, per_page=limit)
    base = current_app.config.get("BASE_URL", "").rstrip("/")
    rows = [{"type": h.type, "slug": h.slug, "title": h.title,
             "url": f"{base}/{TYPE_PATHS[h.type]}/{h.slug}", "score": h.score, "snippet": h.snippet}
            for h in result.hits]
    if as_json:
        click.echo(json.dumps({"query": text, "total": result.total, "results": rows,
                               "facets": result.facets, "suggestion": result.suggestion,
                               "no_words": result.no_words},
                              ensure_ascii=False, indent=2))
        return
    click.echo(f"{result.total} resultaten voor '{text}'" + (" (bij benadering)" if result.fuzzy else ""))
    if result.no_words:
        click.echo("De zoekvraag bevat geen woord om op te zoeken (alleen woorden als 'de' of 'wie', of leestekens).")
    if result.suggestion:
        click.echo(f"Bedoelde u: {result.suggestion}")
    for n, row in enumerate(rows, 1):
        click.echo(f"{n:>3}. [{row['type']}] {row['title']}  {row['url']}")


if __name__ == "__main__":
    main()


@click.command("send-mail")
@with_appcontext
def send_mail_command() -> None:
    """Verstuur wachtende e-mails uit de outbox (alleen als PORTAL_SMTP_HOST is ingesteld).

    Zonder PORTAL_SMTP_HOST blijven de berichten wachten. Voorbeeld (cron, elke minuut):

      PORTAL_SMTP_HOST=smtp.gemeente.nl PORTAL_MAIL_FROM=portal@gemeente.nl portal send-mail
    """
    from flask import current_app

    from .services.notifications import send_pending_mail

    result = send_pending_mail(current_app.config)
    if not current_app.config.get("SMTP_HOST"):
        click.echo(f"PORTAL_SMTP_HOST is niet ingesteld: {result['pending']} bericht(en) blijven wachten.")
        return
    click.echo(f"Verstuurd: {result['sent']}, mislukt: {result['failed']}, nog wachtend: {result['pending']}.")
    if result["failed"]:
        sys.exit(1)


@click.command("prune-search-log")
@click.option("--days", default=365, show_default=True, type=click.IntRange(1, 365),
              help="Bewaar zoekopdrachten zo veel dagen (hoogstens een jaar).")
@with_appcontext
def prune_search_log_command(days: int) -> None:
    """Verwijder zoekopdrachten uit het (anonieme) zoeklogboek die ouder zijn dan een jaar.

    Draai dit dagelijks vanuit een timer. Voorbeeld:

      portal prune-search-log
    """
    from .services.insight import prune_search_log
    from .services.items import SYSTEM

    deleted = prune_search_log(SYSTEM, keep_days=days)
    click.echo(f"{deleted} zoekopdracht(en) ouder dan {days} dagen verwijderd.")
