"""Vetted membership (issue #9): sign-up from allowed e-mail domains with a
confirmation link, access requests for everyone else, the domain allow-list.

The blueprint ``signup`` (views in :mod:`.views`), the verbs in
:mod:`.service`, the command ``portal allow-domain`` in :mod:`.cli`.
"""

from __future__ import annotations

from .views import bp

__all__ = ["bp"]
