"""'Waar staat u?' (issue #9): a guided entry through the handreiking's three
phases and eight sub-steps, with the key questions per sub-step, what helps
with it (found through the permission-aware search), and where a
municipality stands.

The key questions follow the sub-steps of the *Handreiking lokaal netwerk van
sleutelfiguren* (Expertise-unit Sociale Stabiliteit, 2024 edition) as the
portal's starter library describes them (``content/practices/fase-*.md``).
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from .. import permissions, search, taxonomy
from ..database import begin_write
from ..errors import PermissionDenied, ValidationFailed
from ..extensions import db
from ..models import PROGRESS_STATES, GuideProgress, Item, Municipality
from ..models.base import utcnow
from .common import audit
from .items import items_by_slugs

#: sub-step -> the questions a municipality should be able to answer (Dutch msgids, lazily translated).
KEY_QUESTIONS: dict[str, list[str]] = {
    "1.1": [
        _l("Welk probleem moet het netwerk helpen oplossen: signalen van radicalisering opvangen, "
        "spanningen tussen groepen dempen of de weerbaarheid van jongeren en ouders versterken?"),
        _l("Welke overleggen en netwerken bestaan er al, en is een nieuw netwerk echt nodig of volstaat "
        "het een bestaand verband te verbreden?"),
        _l("Kunt u het bestaansrecht van het netwerk in een paar zinnen uitleggen die ook een bewoner begrijpt?"),
    ],
    "1.2": [
        _l("Steunen de burgemeester en de betrokken wethouders het netwerk, en weet u wat zij er wel en "
        "niet van verwachten?"),
        _l("Is er geld voor meerdere jaren, zodat het netwerk de tijd krijgt om op te bouwen?"),
        _l("Zijn de driehoek en de partners in zorg en welzijn betrokken, zodat het netwerk geen losstaand "
        "veiligheidsproject wordt?"),
    ],
    "1.3": [
        _l("Welke rol kiest de gemeente: regisseur, facilitator of participant?"),
        _l("Hoe gaat u om met signalen: wie ontvangt ze en wat komt er terug naar de sleutelfiguur?"),
        _l("Wat is vertrouwelijk, hoe beschermt u de privacy van bewoners, en krijgen sleutelfiguren een vergoeding?"),
        _l("Wie is de coördinator of netwerkregisseur, en hoeveel uren zijn daarvoor beschikbaar?"),
    ],
    "2.1": [
        _l("Werft de gemeente zelf, of een externe partij die mensen bereikt die de overheid wantrouwen?"),
        _l("Voert u met iedere kandidaat een verkennend gesprek: deelt de persoon het doel en heeft hij of zij er tijd voor?"),
        _l("Spelen er andere belangen mee, zoals subsidie, zichtbaarheid of een politieke ambitie?"),
    ],
    "2.2": [
        _l("Mengt het netwerk formele sleutelfiguren (professionals) en informele (bewoners, vrijwilligers, voorgangers)?"),
        _l("Is er spreiding over wijken, gemeenschappen, leeftijd, gender en talen, ook naar minder zichtbare groepen?"),
        _l("Welke groepen ontbreken nog, en hoe werft u daar gericht op bij?"),
    ],
    "3.1": [
        _l("Koppelt u altijd iets terug als een sleutelfiguur een signaal deelt?"),
        _l("Bent u open over wat de gemeente met informatie doet?"),
        _l("Hebt u per persoon afgesproken hoe zichtbaar zijn of haar deelname mag zijn?"),
    ],
    "3.2": [
        _l("Weet u welke kennis en vaardigheden de sleutelfiguren zelf nodig hebben?"),
        _l("Is er ruimte voor training en intervisie: lastige gesprekken, doorverwijzen, omgaan met online haat?"),
        _l("Deelt u kennis ook met andere gemeenten, bijvoorbeeld in de regio?"),
    ],
    "3.3": [
        _l("Houdt u een lijst bij van mogelijke nieuwe leden, en werft u periodiek bij?"),
        _l("Is er afwisseling in activiteiten en vaste momenten, zoals een brede bijeenkomst twee keer per jaar?"),
        _l("Hoe houdt u de inzet vast als de dreiging afneemt, en vraagt u de leden jaarlijks wat het netwerk hun oplevert?"),
    ],
}

#: Items shown per sub-step and type.
PER_STEP = 3


def steps() -> list[tuple[str, str, str]]:
    """``[(phase_key, step_key, step_label_nl)]`` in the handreiking's order."""
    return [(taxonomy.phase_of_step(k), k, v[0]) for k, v in taxonomy.BUILTIN["step"].items()]


def progress_of(municipality: Municipality | None) -> dict[str, str]:
    """``{step: state}`` for every sub-step of ``municipality`` (missing
    steps are ``niet-begonnen``; ``None`` gives all ``niet-begonnen``)."""
    states = {k: "niet-begonnen" for _p, k, _l in steps()}
    if municipality is not None:
        for row in db.session.scalars(select(GuideProgress).where(GuideProgress.municipality_id == municipality.id)):
            if row.step in states and row.state in PROGRESS_STATES:
                states[row.step] = row.state
    return states


def next_step(states: dict[str, str]) -> str | None:
    """The first sub-step (in order) not ``gereed``; ``None`` when all are done."""
    for _p, key, _label in steps():
        if states.get(key) != "gereed":
            return key
    return None


def helpers(actor: Any, step: str, limit: int = PER_STEP) -> dict[str, Any]:
    """What helps with ``step``, as ``actor`` may see it: ``{"practice":
    SearchResult, "lesson": SearchResult, "people": [(slug, title)] | None,
    "people_ids": [profile id, in the order of "people"]}`` (no ``people_ids``
    for anonymous visitors).

    Practices and lessons come from the search with the step filter, which
    applies every permission rule (nothing hidden is found or counted).
    People (logged-in members only; ``None`` for anyone else): profiles found
    with the step filter, then the contact persons of the step's practices,
    each checked with ``permissions.can_view``."""
    out: dict[str, Any] = {}
    for item_type in ("practice", "lesson"):
        out[item_type] = search.search(actor, "", filters={"step": [step], "type": [item_type]},
                                       per_page=limit, facets=False)
    if not getattr(actor, "is_authenticated", False):
        out["people"] = None
        return out
    found = search.search(actor, "", filters={"step": [step], "type": ["profile"]}, per_page=limit, facets=False)
    people = [(h.slug, h.title) for h in found.hits]
    ids = {(h.slug, h.title): h.id for h in found.hits}
    if len(people) < limit:
        practice_ids = [h.id for h in search.search(actor, "", filters={"step": [step], "type": ["practice"]},
                                                    per_page=20, facets=False).hits]
        rows = db.session.scalars(select(Item).where(Item.id.in_(practice_ids))).all() if practice_ids else []
        slugs = [r.contact for r in rows if r.contact and permissions.can_view(actor, r)]
        for profile in items_by_slugs(actor, list(dict.fromkeys(slugs)), types=("profile",)):
            if (profile.status == "published" and permissions.consent_valid(profile)
                    and (profile.slug, profile.title) not in people):
                people.append((profile.slug, profile.title))
                ids[(profile.slug, profile.title)] = profile.id
    out["people"] = people[:limit]
    out["people_ids"] = [ids[p] for p in out["people"]]  # for the privacy audit (the view logs them)
    return out


def set_progress(actor: Any, municipality: Municipality | None, step: str, state: str) -> GuideProgress:
    """Record that ``municipality`` is at ``state`` (a key of
    ``PROGRESS_STATES``) on sub-step ``step``; audited.

    Raises ``PermissionDenied`` unless ``actor`` is a logged-in member of
    that municipality, ``ValidationFailed`` (naming the field) for an unknown
    step or state; nothing is written then."""
    begin_write()
    if not permissions.can_mark_progress(actor, municipality):
        raise PermissionDenied(_("U kunt alleen de voortgang van uw eigen gemeente bijhouden."))
    errors: dict[str, list[str]] = {}
    if step not in taxonomy.BUILTIN["step"]:
        errors["step"] = [_("Onbekende stap '%(step)s'. Kies een stap van 1.1 tot en met 3.3.", step=str(step)[:10])]
    if state not in PROGRESS_STATES:
        errors["state"] = [_("Kies bij 'Stand' niet begonnen, bezig of gereed.")]
    if errors:
        raise ValidationFailed(errors)
    row = db.session.scalar(select(GuideProgress).where(GuideProgress.municipality_id == municipality.id,
                                                        GuideProgress.step == step))
    previous = row.state if row is not None else "niet-begonnen"
    if row is None:
        row = GuideProgress(municipality_id=municipality.id, step=step)
        db.session.add(row)
    row.state = state
    row.updated_at = utcnow()
    audit(actor, "guide.progress", f"municipality/{municipality.cbs_code}", step=step, state=state,
          previous=previous)
    db.session.commit()
    return row


def questions_for_phase(actor: Any, phase: str, limit: int = PER_STEP) -> list:
    """The newest questions to the network about ``phase`` (members only:
    an empty list for anyone who may not read questions)."""
    if not permissions.can_view_questions(actor):
        return []
    from ..network.questions import list_questions

    return list_questions(actor, phase=phase, limit=limit)
