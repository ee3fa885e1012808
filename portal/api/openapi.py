"""The OpenAPI 3.1 description of ``/api/v1``, written by hand next to the
views it describes (``portal/api/views.py``); ``tests/test_api.py`` runs
schemathesis against the app with it, so it stays true to the code.

Specification: https://spec.openapis.org/oas/v3.1.0 (schemas are JSON Schema 2020-12).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from .. import search, taxonomy
from ..models import ITEM_TYPES

STR = {"type": "string"}
INT = {"type": "integer"}
NULLABLE_STR = {"type": ["string", "null"]}
STR_LIST = {"type": "array", "items": STR}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


ITEM_SUMMARY = {
    "type": "object",
    "required": ["type", "slug", "title", "summary", "status", "date", "themes", "phase",
                 "municipalities", "updated_at", "url", "api_url"],
    "properties": {
        "type": {"type": "string", "enum": list(ITEM_TYPES)},
        "slug": STR,
        "title": STR,
        "summary": STR,
        "status": {"type": "string", "enum": ["draft", "published"]},
        "date": {"type": ["string", "null"], "format": "date"},
        "themes": STR_LIST,
        "phase": STR_LIST,
        "municipalities": {"type": "array", "items": _ref("MunicipalityRef")},
        "updated_at": NULLABLE_STR,
        "url": {"type": "string", "description": "De pagina van het item in het portaal."},
        "api_url": STR,
    },
}

ITEM_DETAIL = deepcopy(ITEM_SUMMARY)
ITEM_DETAIL["required"] += ["visibility", "version", "published_at", "front_matter", "body", "html", "editable"]
ITEM_DETAIL["properties"].update({
    "visibility": {"type": "string", "enum": ["public", "members", "municipality", "region"]},
    "version": {"type": "integer", "description": "Stuur mee bij PUT/PATCH (optimistische vergrendeling)."},
    "published_at": NULLABLE_STR,
    "front_matter": {
        "type": "object",
        "description": "De sleutels van het inhoudsformaat (shared/content-format.md). "
                       "contact_email en contact_phone alleen voor wie ze mag zien.",
    },
    "body": {"type": "string", "description": "De tekst in Markdown."},
    "html": {"type": "string", "description": "De tekst als veilige HTML."},
    "editable": {"type": "boolean", "description": "Mag de aanroeper dit item bewerken?"},
})

PAGE_LINKS = {
    "type": "object",
    "required": ["next", "prev"],
    "properties": {"next": NULLABLE_STR, "prev": NULLABLE_STR},
}

FRONT_MATTER_IN: dict[str, Any] = {
    "type": "object",
    "description": "Sleutels van het inhoudsformaat. Genegeerd of geweigerd: author, featured, "
                   "version en andere velden die het portaal zelf beheert; status, reviewed en "
                   "review_due alleen voor wie mag publiceren; type, slug en region liggen vast.",
    "properties": {
        "title": {"type": "string", "maxLength": 300},
        "summary": {"type": "string", "maxLength": 5000},
        "municipality": {"oneOf": [STR, STR_LIST]},
        "themes": STR_LIST,
        "phase": STR_LIST,
        "steps": STR_LIST,
        "visibility": {"type": "string", "enum": ["public", "members", "municipality"]},
        "status": {"type": "string", "enum": ["draft", "published"]},
        "date": {"type": "string", "format": "date"},
        "tags": STR_LIST,
    },
}


FRONT_MATTER_NEW = deepcopy(FRONT_MATTER_IN)
FRONT_MATTER_NEW["required"] = ["title"]
FRONT_MATTER_NEW["properties"]["title"] = {"type": "string", "minLength": 1, "maxLength": 300}


def _query(name: str, schema: dict[str, Any], description: str, array: bool = False) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": "query", "required": False,
                             "description": description}
    if array:
        param.update({"schema": {"type": "array", "items": schema}, "style": "form", "explode": True})
    else:
        param["schema"] = schema
    return param


PAGING = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": 10000}, "Paginanummer, vanaf 1."),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}, "Resultaten per pagina (standaard 20)."),
]
TYPE_PARAM = _query("type", {"type": "string", "enum": list(ITEM_TYPES)}, "Soort item.", array=True)
PHASE_PARAM = _query("phase", {"type": "string", "enum": list(taxonomy.BUILTIN["phase"])},
                     "Fase van de handreiking.", array=True)
ITEM_PATH = [
    {"name": "item_type", "in": "path", "required": True, "example": "practice",
     "schema": {"type": "string", "enum": list(ITEM_TYPES)}},
    {"name": "slug", "in": "path", "required": True, "example": "netwerk-sleutelfiguren-delft",
     "schema": {"type": "string", "pattern": "^[a-z0-9-]+$"}},
]
COMMON_ERRORS = {"429": _error("Te veel verzoeken.")}
AUTH_ERROR = {"401": _error("API-sleutel onbekend of ingetrokken.")}
WRITE_SECURITY = [{"bearerAuth": []}]


def _filter_params() -> list[dict[str, Any]]:
    params = [TYPE_PARAM, PHASE_PARAM]
    for name in search.FILTER_FIELDS:
        if name not in ("type", "phase"):
            params.append(_query(name, STR, f"Filter op {name} (meerdere waarden: of).", array=True))
    return params


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document as a dict (served at ``/api/v1/openapi.json``)."""
    from flask import request

    read = {**AUTH_ERROR, **COMMON_ERRORS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Kennisportaal sleutelfiguren API",
            "version": "1.0.0",
            "description": "Werkwijzen, geleerde lessen en (voor leden) sleutelfiguren, met dezelfde "
                           "rechten als op de website. Anoniem: alleen openbare items. Met een "
                           "persoonlijke API-sleutel (Authorization: Bearer ...) ziet en schrijft u "
                           "wat uw account mag. Zie docs/api.md.",
        },
        "servers": [{"url": request.host_url.rstrip("/")}],
        "security": [{}, {"bearerAuth": []}],
        "paths": {
            "/api/v1/items": {
                "get": {
                    "operationId": "listItems",
                    "summary": "Items die u mag zien, nieuwste eerst",
                    "parameters": [
                        TYPE_PARAM,
                        _query("theme", STR, "Thema (sleutel uit /api/v1/taxonomy).", array=True),
                        PHASE_PARAM,
                        _query("municipality", STR, "CBS-code, zoals GM0503.", array=True),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_ref("ItemList"), "Een pagina items."),
                        "400": _error("Ongeldige parameter."),
                        **read,
                    },
                },
                "post": {
                    "operationId": "createItem",
                    "summary": "Een nieuw item (concept) maken",
                    "security": WRITE_SECURITY,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ItemCreate")}}},
                    "responses": {
                        "201": _json(_ref("ItemDetail"), "Gemaakt; Location wijst naar het item."),
                        "400": _error("Ongeldige invoer: errors noemt per veld wat er mis is."),
                        "403": _error("U mag dit soort item niet maken."),
                        **read,
                    },
                },
            },
            "/api/v1/items/{item_type}/{slug}": {
                "parameters": ITEM_PATH,
                "get": {
                    "operationId": "getItem",
                    "summary": "Eén item: front matter, Markdown en HTML",
                    "responses": {
                        "200": _json(_ref("ItemDetail"), "Het item."),
                        "404": _error("Bestaat niet, of u mag het niet zien."),
                        **read,
                    },
                },
                "put": {
                    "operationId": "replaceItem",
                    "summary": "Front matter en tekst vervangen",
                    "security": WRITE_SECURITY,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ItemPut")}}},
                    "responses": _write_responses(read),
                },
                "patch": {
                    "operationId": "patchItem",
                    "summary": "Alleen de meegestuurde sleutels veranderen (null verwijdert een sleutel)",
                    "security": WRITE_SECURITY,
                    "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("ItemPatch")}}},
                    "responses": _write_responses(read),
                },
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Zoeken met filters en facetten",
                    "parameters": [
                        _query("q", {"type": "string", "maxLength": 500}, "Zoekvraag (gewone tekst)."),
                        *_filter_params(),
                        _query("sort", {"type": "string", "enum": list(search.SORTS)}, "Volgorde."),
                        *PAGING,
                    ],
                    "responses": {
                        "200": _json(_ref("SearchResult"), "Resultaten en facetten."),
                        "400": _error("Ongeldige parameter."),
                        **read,
                    },
                },
            },
            "/api/v1/municipalities": {
                "get": {
                    "operationId": "listMunicipalities",
                    "summary": "Alle gemeenten (CBS) met het aantal items dat u mag zien",
                    "parameters": [_query("with_items", {"type": "string", "enum": ["true", "false"]},
                                          "Alleen gemeenten met items.")],
                    "responses": {"200": _json(_ref("MunicipalityList"), "De gemeenten."), **read},
                },
            },
            "/api/v1/taxonomy": {
                "get": {
                    "operationId": "taxonomy",
                    "summary": "De vaste lijsten (thema's, fasen, doelgroepen ...) met labels",
                    "responses": {"200": _json(_ref("Taxonomy"), "Per lijst de sleutels met labels."), **read},
                },
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "Dit document",
                    "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1."), **read},
                },
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "Persoonlijke API-sleutel, te maken op /account/sleutels."},
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["status", "message"],
                    "properties": {
                        "status": INT,
                        "message": STR,
                        "errors": {"type": "object", "additionalProperties": STR,
                                   "description": "Per veld een Nederlandse foutmelding."},
                    },
                },
                "MunicipalityRef": {
                    "type": "object", "required": ["code", "name"],
                    "properties": {"code": STR, "name": STR},
                },
                "ItemSummary": ITEM_SUMMARY,
                "ItemDetail": ITEM_DETAIL,
                "ItemList": {
                    "type": "object",
                    "required": ["total", "page", "per_page", "pages", "items", "links"],
                    "properties": {"total": INT, "page": INT, "per_page": INT, "pages": INT,
                                   "items": {"type": "array", "items": _ref("ItemSummary")},
                                   "links": PAGE_LINKS},
                },
                "SearchHit": {
                    "type": "object",
                    "required": ["type", "slug", "title", "summary", "snippet", "score", "date", "url", "api_url"],
                    "properties": {
                        "type": {"type": "string", "enum": list(ITEM_TYPES)},
                        "slug": STR, "title": STR, "summary": STR,
                        "snippet": {"type": "string", "description": "Veilige HTML met <mark>."},
                        "score": {"type": "number"},
                        "date": {"type": ["string", "null"], "format": "date"},
                        "url": STR, "api_url": STR,
                    },
                },
                "SearchResult": {
                    "type": "object",
                    "required": ["query", "total", "page", "per_page", "pages", "hits", "facets",
                                 "suggestion", "fuzzy", "no_words", "links"],
                    "properties": {
                        "query": STR, "total": INT, "page": INT, "per_page": INT, "pages": INT,
                        "hits": {"type": "array", "items": _ref("SearchHit")},
                        "facets": {"type": "object",
                                   "additionalProperties": {"type": "object", "additionalProperties": INT}},
                        "suggestion": NULLABLE_STR,
                        "fuzzy": {"type": "boolean"},
                        "no_words": {"type": "boolean", "description": "q was given but holds no searchable "
                                     "word (only stop words or punctuation): nothing is found"},
                        "links": PAGE_LINKS,
                    },
                },
                "Municipality": {
                    "type": "object",
                    "required": ["code", "name", "province", "region", "items"],
                    "properties": {"code": STR, "name": STR, "province": STR, "region": NULLABLE_STR,
                                   "items": INT},
                },
                "MunicipalityList": {
                    "type": "object", "required": ["total", "municipalities"],
                    "properties": {"total": INT,
                                   "municipalities": {"type": "array", "items": _ref("Municipality")}},
                },
                "Taxonomy": {
                    "type": "object",
                    "additionalProperties": {
                        "type": "array",
                        "items": {"type": "object", "required": ["key", "nl", "en"],
                                  "properties": {"key": STR, "nl": STR, "en": STR}},
                    },
                },
                "ItemCreate": {
                    "type": "object",
                    "required": ["type", "front_matter"],
                    "additionalProperties": False,
                    "properties": {
                        "type": {"type": "string", "enum": list(ITEM_TYPES)},
                        "front_matter": FRONT_MATTER_NEW,
                        "body": {"type": "string", "description": "Markdown."},
                    },
                },
                "ItemPut": {
                    "type": "object",
                    "required": ["version", "front_matter", "body"],
                    "additionalProperties": False,
                    "properties": {"version": INT, "front_matter": FRONT_MATTER_IN,
                                   "body": {"type": "string"}},
                },
                "ItemPatch": {
                    "type": "object",
                    "required": ["version"],
                    "additionalProperties": False,
                    "properties": {"version": INT, "front_matter": FRONT_MATTER_IN,
                                   "body": {"type": "string"}},
                },
            },
        },
    }


def _write_responses(read: dict[str, Any]) -> dict[str, Any]:
    return {
        "200": _json(_ref("ItemDetail"), "Opgeslagen."),
        "400": _error("Ongeldige invoer: errors noemt per veld wat er mis is."),
        "403": _error("U mag dit item niet bewerken."),
        "404": _error("Bestaat niet, of u mag het niet zien."),
        "409": _error("Iemand anders sloeg het item intussen op; lees het opnieuw."),
        **read,
    }
