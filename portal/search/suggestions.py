"""What the search page offers when a search finds nothing or almost nothing
(issue #9, "vraag het netwerk"): ask the network, and people who may know.

Profiles come only through the expert finder
(``portal.services.people.find_experts``): it searches with the caller's
permission labels, re-checks every profile with ``permissions.can_view``
against the database and writes the privacy audit of the profiles shown.
"""

from __future__ import annotations

from typing import Any

#: fewer results than this count as "almost nothing"
FEW_RESULTS = 3
#: at most this many profiles are suggested
MAX_EXPERTS = 5


def few_results(text: str, total: int, questions: int = 0) -> bool:
    """True when a search for ``text`` (non-blank) found fewer than
    :data:`FEW_RESULTS` results in the library: ``total`` results of which
    ``questions`` are questions to the network. Questions already asked are
    shown among the results, but they are not what the library holds: when
    they are (almost) all there is, asking is still offered."""
    return bool((text or "").strip()) and total - questions < FEW_RESULTS


def suggest_experts(user: Any, text: str, limit: int = MAX_EXPERTS) -> list[Any]:
    """Up to ``limit`` profiles (Item rows) ``user`` may see whose expertise,
    languages, communities, role or organisation match ``text``, the user's
    own region first (also those already among the results: here they are
    offered as people to ask). ``[]`` for an anonymous visitor (the finder is for members) or
    blank text. The finder logs the profiles it returns in the privacy audit."""
    from ..errors import PermissionDenied
    from ..services.people import find_experts

    if not (text or "").strip() or not getattr(user, "is_authenticated", False):
        return []
    try:
        return find_experts(user, text, per_page=limit).profiles[:limit]
    except PermissionDenied:
        return []
