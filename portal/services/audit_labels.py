"""Dutch labels for the action codes of the audit log (``audit_events.action``),
for the admins' log page ``/beheer/logboek``. One dict, in one place: a new
action code without a label is shown as its code."""

from __future__ import annotations

#: action code -> Dutch label (what happened, in words an administrator reads).
AUDIT_LABELS: dict[str, str] = {
    # accounts and sessions
    "auth.login": "Ingelogd",
    "auth.login_failed": "Inloggen mislukt",
    "auth.logout": "Uitgelogd",
    "auth.password_change": "Wachtwoord gewijzigd",
    "auth.password_change_failed": "Wachtwoord wijzigen mislukt (huidig wachtwoord fout)",
    "auth.reauth_failed": "Wachtwoordcontrole mislukt",
    "auth.password_reset_issued": "Herstellink voor wachtwoord gemaakt",
    "auth.password_reset": "Wachtwoord hersteld",
    "auth.password_reset_requested": "Nieuw wachtwoord gevraagd (‘Wachtwoord vergeten?’)",
    "auth.session_ended": "Sessie op een ander apparaat beëindigd",
    "auth.sessions_ended_others": "Alle andere sessies beëindigd door de gebruiker",
    "auth.identity_linked": "Inloggen via de organisatie gekoppeld aan het account",
    "auth.totp_recovery_regenerated": "Tweestapsverificatie: nieuwe herstelcodes gemaakt",
    "auth.sessions_ended": "Sessies beëindigd door beheerder",
    "auth.totp_enrollment_started": "Tweestapsverificatie: instellen begonnen",
    "auth.totp_enabled": "Tweestapsverificatie aangezet",
    "auth.totp_failed": "Tweestapsverificatie: verkeerde code",
    "auth.totp_recovery_used": "Tweestapsverificatie: herstelcode gebruikt",
    "auth.totp_disabled": "Tweestapsverificatie uitgezet",
    "auth.totp_reset": "Tweestapsverificatie verwijderd door beheerder",
    "access.denied": "Toegang geweigerd",
    "user.create": "Account aangemaakt",
    "user.activate": "Account geactiveerd",
    "user.deactivate": "Account gedeactiveerd",
    "user.role_change": "Rol gewijzigd",
    "user.municipality_change": "Gemeente van account gewijzigd",
    "api_token.create": "API-sleutel gemaakt",
    "api_token.revoke": "API-sleutel ingetrokken",
    "api_token.revoke_all": "Alle API-sleutels ingetrokken",
    # items and workflow
    "item.create": "Item aangemaakt",
    "item.update": "Item gewijzigd",
    "item.import": "Item geïmporteerd",
    "item.submit": "Ter beoordeling aangeboden",
    "item.resubmit": "Opnieuw ter beoordeling aangeboden",
    "item.publish": "Gepubliceerd",
    "item.unpublish": "Publicatie ingetrokken",
    "item.return": "Teruggestuurd naar auteur",
    "item.archive": "Gearchiveerd",
    "item.confirm_review": "Inhoud bevestigd (nog juist)",
    "revision.submit": "Wijziging ter beoordeling aangeboden",
    "revision.approve": "Wijziging goedgekeurd",
    "revision.return": "Wijziging teruggestuurd",
    "attachment.add": "Bijlage toegevoegd",
    "attachment.remove": "Bijlage verwijderd",
    "library.export": "Bibliotheek geëxporteerd",
    "region.set": "Regio ingesteld",
    "search_log.prune": "Zoeklog opgeschoond",
    "notification.read": "Melding gelezen",
    "notification.read_all": "Alle meldingen gelezen",
    "collection.create": "Dossier aangemaakt",
    "collection.update": "Dossier gewijzigd",
    "collection.add": "Item aan dossier toegevoegd",
    "collection.remove": "Item uit dossier verwijderd",
    "collection.move": "Volgorde in dossier gewijzigd",
    "collection.feature": "Dossier uitgelicht",
    "collection.unfeature": "Dossier niet meer uitgelicht",
    # key figures and privacy
    "profile.consent_reminder": "Herinnering toestemming verstuurd",
    "introduction.request": "Introductieverzoek verstuurd",
    "privacy.profile_view": "Profiel bekeken",
    "privacy.profile_search": "Profielen gezocht",
    "privacy.contact_reveal": "Contactgegevens getoond",
    "privacy.export": "Persoonsgegevens geëxporteerd",
    "privacy.erase": "Persoonsgegevens gewist",
    # network
    "meeting.create": "Bijeenkomst aangemaakt",
    "meeting.update": "Bijeenkomst gewijzigd",
    "meeting.cancel": "Aanmelding bijeenkomst geannuleerd",
    "meeting.register": "Aangemeld voor bijeenkomst",
    "meeting.report": "Verslag bijeenkomst toegevoegd",
    "question.ask": "Vraag gesteld",
    "question.answer": "Vraag beantwoord",
    "question.best": "Beste antwoord gekozen",
    "question.unbest": "Beste antwoord teruggedraaid",
    "question.close": "Vraag gesloten",
    "question.follow": "Vraag gevolgd",
    "question.unfollow": "Vraag niet meer gevolgd",
    "follow.add": "Gaat volgen (thema, fase, gemeente, regio of dossier)",
    "follow.remove": "Volgt niet meer (thema, fase, gemeente, regio of dossier)",
    "digest.frequency": "Frequentie van de e-mailsamenvatting gewijzigd",
    "digest.unsubscribe": "Afgemeld voor de e-mailsamenvatting",
    "digest.sent": "E-mailsamenvatting verstuurd",
    "guide.progress": "Voortgang handreiking bijgewerkt",
    # forms kept across an expired session (issue #4)
    "form.kept": "Formulier bewaard na verlopen sessie",
    "form.restored": "Bewaard formulier teruggezet",
    "form.discarded": "Bewaard formulier verworpen",
    "form.kept_without_session": "Formulier bewaard zonder sessie (na inloggen terug te zetten)",
    # vetted membership (issue #9)
    "signup.submit": "Aangemeld (wacht op bevestiging e-mailadres)",
    "signup.confirm": "Aanmelding bevestigd via e-maillink",
    "signup.confirmed_by_sso": "Onbevestigde aanmelding overgenomen door inloggen via de organisatie",
    "signup.existing": "Aanmelding met e-mailadres dat al een account heeft",
    "signup.request": "Aanvraag voor toegang ingediend",
    "signup.request_repeated": "Aanvraag voor toegang opnieuw ingediend (nog in behandeling)",
    "signup.approve": "Aanvraag voor toegang goedgekeurd",
    "signup.refuse": "Aanvraag voor toegang afgewezen",
    "signup.domain_add": "E-maildomein toegestaan voor aanmelding",
    "signup.domain_remove": "E-maildomein van de lijst gehaald",
}


def audit_label(code: str | None) -> str:
    """The label of the audit action ``code`` in the interface language (the
    Dutch label is the msgid: ``babel.cfg`` extracts every label of this file
    with ``portal.i18n.extract_dict_values``); an unknown code as is."""
    label = AUDIT_LABELS.get(code or "")
    if not label:
        return code or ""
    from flask import has_request_context

    if not has_request_context():
        return label
    from flask_babel import gettext

    return gettext(label)
