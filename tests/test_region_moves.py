"""Moving a municipality to another region (``portal region``) re-scopes its
items without touching their text: the item's region follows, its version
(optimistic locking) stays, so a form someone has open still saves."""

from __future__ import annotations

from sqlalchemy import select

from portal.extensions import db
from portal.models import Item
from portal.services.items import SYSTEM, save_item
from portal.services.library import set_region

from .conftest import make_app


def test_region_move_changes_region_not_version(tmp_path):
    app = make_app(tmp_path, content=False)
    with app.app_context():
        set_region(SYSTEM, "Haaglanden", ["Delft"])
        item = save_item(SYSTEM, "practice", {"title": "Delftse aanpak", "municipality": "Delft",
                                              "status": "draft"}, "tekst")
        item_id, version = item.id, item.version
        assert item.region.name == "Haaglanden"
        db.session.remove()

        set_region(SYSTEM, "Zuid-Holland Zuid", ["Delft"])
        db.session.remove()
        moved = db.session.scalar(select(Item).where(Item.id == item_id))
        assert moved.region.name == "Zuid-Holland Zuid"
        assert moved.version == version

        # The editor who opened the form before the move saves without a conflict.
        saved = save_item(SYSTEM, "practice", {"title": "Delftse aanpak", "municipality": "Delft",
                                               "status": "draft"}, "nieuwe tekst",
                          item=moved, expected_version=version)
        assert saved.body == "nieuwe tekst" and saved.region.name == "Zuid-Holland Zuid"
