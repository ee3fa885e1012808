"""The public and member web pages: thin views that parse input, call
services and render templates."""

from flask import Blueprint

bp = Blueprint("web", __name__)

from . import views  # noqa: E402,F401  (registers the routes)
