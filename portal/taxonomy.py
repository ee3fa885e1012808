"""The controlled lists of ``shared/content-format.md`` with Dutch and English
labels. Sub-steps follow the national guide *Handreiking lokaal netwerk van
sleutelfiguren* (Expertise-unit Sociale Stabiliteit, 2024 edition).

A library's ``taxonomy.yaml`` may add keys; those are stored in the
``taxonomy_terms`` table and merged in by :func:`vocabulary`.
"""

from __future__ import annotations

from collections.abc import Iterable

#: kind -> ordered {key: (label_nl, label_en)}
BUILTIN: dict[str, dict[str, tuple[str, str]]] = {
    "phase": {
        "opzetten": ("Opzetten", "Setting up"),
        "werving-selectie": ("Werving en selectie", "Recruitment and selection"),
        "onderhouden": ("Onderhouden", "Maintaining"),
    },
    "step": {
        "1.1": ("Doel en bestaansrecht", "Purpose and right to exist"),
        "1.2": ("Bestuurlijk draagvlak", "Administrative support"),
        "1.3": ("Kaders en uitgangspunten", "Frameworks and principles"),
        "2.1": ("Werving en selectie", "Recruitment and selection"),
        "2.2": ("Kenmerken en diversiteit", "Characteristics and diversity"),
        "3.1": ("Vertrouwen en zichtbaarheid", "Trust and visibility"),
        "3.2": ("Kennis opbouwen en delen", "Building and sharing knowledge"),
        "3.3": ("Stabiliteit, verloop en variatie", "Stability, turnover and variety"),
    },
    "theme": {
        "polarisatie": ("Polarisatie", "Polarisation"),
        "radicalisering": ("Radicalisering", "Radicalisation"),
        "discriminatie": ("Discriminatie", "Discrimination"),
        "arbeidsmarkt": ("Arbeidsmarkt", "Labour market"),
        "onderwijs": ("Onderwijs", "Education"),
        "social-media": ("Social media", "Social media"),
        "weerbaarheid": ("Weerbaarheid", "Resilience"),
        "opvoeding": ("Opvoeding", "Parenting"),
        "religie": ("Religie", "Religion"),
        "jongeren": ("Jongeren", "Young people"),
        "netwerk-opbouw": ("Netwerkopbouw", "Network building"),
        "training": ("Training", "Training"),
        "communicatie": ("Communicatie", "Communication"),
        "media": ("Media", "Media"),
        "veiligheid": ("Veiligheid", "Safety"),
        "zorg-welzijn": ("Zorg en welzijn", "Care and welfare"),
        "spanningen": ("Spanningen", "Tensions"),
    },
    "target_group": {
        "jongeren": ("Jongeren", "Young people"),
        "ouders": ("Ouders", "Parents"),
        "professionals": ("Professionals", "Professionals"),
        "religieuze-gemeenschappen": ("Religieuze gemeenschappen", "Religious communities"),
        "migrantengemeenschappen": ("Migrantengemeenschappen", "Migrant communities"),
        "scholen": ("Scholen", "Schools"),
        "ondernemers": ("Ondernemers", "Entrepreneurs"),
        "bewoners": ("Bewoners", "Residents"),
        "sleutelfiguren": ("Sleutelfiguren", "Key figures"),
    },
    "key_figure_type": {
        "wijkagent": ("Wijkagent", "Community police officer"),
        "jongerenwerker": ("Jongerenwerker", "Youth worker"),
        "sporttrainer": ("Sporttrainer", "Sports coach"),
        "buurtbewoner": ("Buurtbewoner", "Resident"),
        "religieus-leider": ("Religieus leider", "Religious leader"),
        "migrantenorganisatie": ("Migrantenorganisatie", "Migrant organisation"),
        "docent": ("Docent", "Teacher"),
        "ambtenaar": ("Ambtenaar", "Civil servant"),
        "zorgprofessional": ("Zorgprofessional", "Care professional"),
        "ondernemer": ("Ondernemer", "Entrepreneur"),
        "ervaringsdeskundige": ("Ervaringsdeskundige", "Expert by experience"),
    },
    "evidence": {
        "ervaring": ("Ervaring", "Experience"),
        "goed-beschreven": ("Goed beschreven", "Well described"),
        "goed-onderbouwd": ("Goed onderbouwd", "Well founded"),
        "eerste-aanwijzingen": ("Eerste aanwijzingen voor effectiviteit", "First indications of effectiveness"),
        "goede-aanwijzingen": ("Goede aanwijzingen voor effectiviteit", "Good indications of effectiveness"),
        "sterke-aanwijzingen": ("Sterke aanwijzingen voor effectiviteit", "Strong indications of effectiveness"),
    },
    "municipal_role": {
        "regisseur": ("Regisseur", "Director"),
        "facilitator": ("Facilitator", "Facilitator"),
        "participant": ("Participant", "Participant"),
    },
    "outcome": {
        "succes": ("Succes", "Success"),
        "gemengd": ("Gemengd", "Mixed"),
        "mislukt": ("Mislukt", "Failed"),
    },
    "type": {
        "practice": ("Werkwijze", "Practice"),
        "lesson": ("Geleerde les", "Lesson learned"),
        "profile": ("Sleutelfiguur", "Key figure"),
    },
    "visibility": {
        "public": ("Openbaar", "Public"),
        "members": ("Alleen leden", "Members only"),
        "municipality": ("Alleen eigen gemeente", "Own municipality only"),
        "region": ("Alleen eigen regio", "Own region only"),
    },
    "contact_route": {
        "direct": ("Direct (gegevens zichtbaar voor leden in de regio)",
                   "Direct (details visible to members in the region)"),
        "curator": ("Via de regionale coördinator (introductieverzoek)",
                    "Through the regional coordinator (introduction request)"),
    },
    "status": {
        "draft": ("Concept", "Draft"),
        "published": ("Gepubliceerd", "Published"),
    },
}

#: Kinds a ``taxonomy.yaml`` may extend, by the key used in that file.
EXTENSIBLE = {"themes": "theme", "target_groups": "target_group", "key_figure_types": "key_figure_type"}

#: The phase each sub-step belongs to.
STEP_PHASE = {"1": "opzetten", "2": "werving-selectie", "3": "onderhouden"}


def phase_of_step(step: str) -> str:
    """Return the phase key a sub-step key like ``"2.1"`` belongs to."""
    return STEP_PHASE[step.split(".", 1)[0]]


def vocabulary(kind: str, extra: Iterable[tuple[str, str, str]] = ()) -> dict[str, tuple[str, str]]:
    """Return ``{key: (label_nl, label_en)}`` for ``kind``, built-in keys first,
    then ``extra`` triples ``(key, label_nl, label_en)``."""
    merged = dict(BUILTIN[kind])
    for key, nl, en in extra:
        merged.setdefault(key, (nl or key, en or nl or key))
    return merged


def interface_language() -> str:
    """``"en"`` when the current request is in English (Flask-Babel's locale,
    chosen with the language switch), else ``"nl"`` (also outside a request:
    command line, imports, exports, search indexing, which are always Dutch)."""
    from flask import has_request_context

    if not has_request_context():
        return "nl"
    from flask_babel import get_locale

    locale = get_locale()
    return "en" if locale is not None and locale.language == "en" else "nl"


def display_label(kind: str, key: str, extra: dict | None = None) -> str:
    """The label of ``key`` for a page: in the interface language of the
    current request (the English labels are the second element of each pair
    in ``BUILTIN``; a library's ``taxonomy.yaml`` gives ``label_en``). Never
    use it for what is stored or exported: those take :func:`label` (Dutch)."""
    return label(kind, key, interface_language(), extra)


def label(kind: str, key: str, lang: str = "nl", extra: dict | None = None) -> str:
    """Return the label of ``key`` in ``lang`` (``nl``/``en``); unknown keys
    come back as themselves so no page breaks on data from another portal."""
    table = BUILTIN.get(kind, {})
    pair = table.get(key) or (extra or {}).get(key)
    if not pair:
        return key
    return pair[1] if lang == "en" else pair[0]
