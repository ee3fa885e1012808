"""The network (issue #9): meetings (bijeenkomsten) and questions to the
network (vraag het netwerk). ``meetings`` and ``questions`` hold the
services; ``views`` the thin web views of the ``network`` blueprint."""

from flask import Blueprint

bp = Blueprint("network", __name__)

from . import views  # noqa: E402,F401  (registers the routes)
