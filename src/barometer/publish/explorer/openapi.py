"""The OpenAPI 3.1 description of the explorer's JSON API (served at /api/openapi.json).

Written out by hand, not generated, so the schema says exactly what the handlers in
:mod:`.api` accept and return — including every bound on a query parameter and the
error body of each 4xx — and a schema-driven test (schemathesis) can hold them to it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["MAX_ITEMS", "MAX_NAME", "MAX_QUERY", "openapi"]

#: Longest query string accepted, in bytes (longer: 400).
MAX_QUERY = 2048
#: Most items in a comma-separated list (countries, waves).
MAX_ITEMS = 64
#: Longest id (question, country, region, wave, breakdown).
MAX_NAME = 64

_NULL_STR = {"type": ["string", "null"]}
_NULL_NUM = {"type": ["number", "null"]}
_LIST = {"type": "array", "items": {"type": "string"}}

_ROW = {
    "type": "object",
    "required": [
        "scope", "scope_kind", "members", "wave", "breakdown", "breakdown_level",
        "question", "level", "estimate", "se", "ci_low", "ci_high", "n", "suppressed",
        "suppression", "flagged", "change_mark", "region_mark", "mark_region", "percent", "moe",
    ],
    "properties": {
        "scope": {"type": "string", "description": "country code or region id"},
        "scope_kind": {"enum": ["country", "region"]},
        "members": {**_LIST, "description": "the countries combined (a country: itself)"},
        "wave": {"type": "string"},
        "breakdown": _NULL_STR,
        "breakdown_level": _NULL_STR,
        "question": {"type": "string"},
        "level": {"type": "string", "description": "answer level code"},
        "estimate": {**_NULL_NUM, "description": "share (0-1); null when suppressed"},
        "se": _NULL_NUM,
        "ci_low": _NULL_NUM,
        "ci_high": _NULL_NUM,
        "n": {"type": "integer", "description": "unweighted base of the cell"},
        "suppressed": {"type": "boolean"},
        "suppression": {"enum": ["base", "secondary", None]},
        "flagged": {"type": "boolean", "description": "base below publication.flag_below"},
        "change_mark": {"enum": ["up", "down", None]},
        "region_mark": {"enum": ["above", "below", None]},
        "mark_region": _NULL_STR,
        "percent": {**_NULL_STR, "description": "the share as printed: a percentage, "
                    "rounded half away from zero; null when suppressed"},
        "moe": {**_NULL_STR, "description": "the margin of error as printed: half the "
                "interval, in points (one decimal); null when suppressed"},
    },
}  # fmt: skip

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "message"],
            "properties": {
                "status": {"type": "integer"},
                "message": {"type": "string"},
                "parameter": _NULL_STR,
                "value": _NULL_STR,
            },
        }
    },
}

_LEVELS = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["code", "label"],
        "properties": {"code": {"type": "string"}, "label": {"type": "string"}},
    },
}

_QUESTIONS = {
    "type": "object",
    "required": ["poll", "questions", "scopes", "waves", "breakdowns"],
    "properties": {
        "poll": {"type": "string"},
        "questions": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["id", "wording", "kind", "levels", "waves", "asked", "breakdowns"],
                "properties": {
                    "id": {"type": "string"},
                    "wording": {"type": "string"},
                    "kind": {"type": "string"},
                    "levels": _LEVELS,
                    "non_substantive": _LIST,
                    "waves": _LIST,
                    "asked": {"type": "object", "additionalProperties": _LIST},
                    "breakdowns": _LIST,
                    "colors": {**_LIST, "description": "one colour per level, as in the report"},
                    "dark": {
                        "type": "array",
                        "items": {"type": "boolean"},
                        "description": "whether each level's colour is dark (labels on it white)",
                    },
                },
            },
        },
        "scopes": {"type": "array", "items": {"type": "object"}},
        "waves": _LIST,
        "breakdowns": {"type": "array", "items": {"type": "object"}},
    },
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _param(
    name: str, description: str, schema: dict[str, Any], required: bool = False
) -> dict[str, Any]:
    return {
        "name": name, "in": "query", "required": required, "description": description,
        "schema": schema,
    }  # fmt: skip


def _names(known: Sequence[str]) -> dict[str, Any]:
    """A comma-separated list of ``known`` names (OpenAPI form style, not exploded)."""
    return {
        "type": "array",
        "items": {"enum": list(known), "maxLength": MAX_NAME},
        "maxItems": MAX_ITEMS,
    }


def _errors(sets: Sequence[str]) -> dict[str, Any]:
    """The 4xx responses of /api/estimates."""
    why = (
        "a parameter names an unknown question, country, wave or breakdown, or is "
        "malformed or too long"
    )
    if sets:
        why += (
            "; or question names a multiple-response question or grid ("
            + ", ".join(sets)
            + "), whose rows are held under its parts: the message names them, and "
            "/api/questions lists each set's parts"
        )
    return {"400": _json(_ERROR, why)}


def openapi(
    title: str,
    questions: Sequence[str],
    scopes: Sequence[str],
    waves: Sequence[str],
    breakdowns: Sequence[str],
    sets: Sequence[str] = (),
) -> dict[str, Any]:
    """The OpenAPI document of the API serving the poll ``title``: its parameters list
    the cube's own questions, countries and regions, waves and breakdowns. ``sets``
    are the ids of the multiple-response questions and grids: not values of
    ``question`` (their rows are their parts'), each a documented 400."""
    asked = [q for q in questions if q not in set(sets)]
    about = "question id"
    if sets:
        about += (
            " (a multiple-response question's or grid's own id is refused with a 400 "
            "naming its parts, the question ids that hold its rows)"
        )
    lists = {"style": "form", "explode": False}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"{title} — explorer API",
            "version": "1",
            "description": "Aggregates only: shares with margins and unweighted bases; cells "
            "under the publication's minimum base carry no estimate.",
        },
        "paths": {
            "/api/questions": {
                "get": {
                    "operationId": "questions",
                    "summary": "Questions with wording, levels, where and when asked",
                    "responses": {"200": _json(_QUESTIONS, "the questions")},
                }
            },
            "/api/estimates": {
                "get": {
                    "operationId": "estimates",
                    "summary": "Shares of one question by country/region and wave",
                    "parameters": [
                        _param("question", about, {"enum": asked}, True),
                        _param(
                            "countries",
                            "comma-separated country codes or region ids (default: all)",
                            _names(scopes),
                        )
                        | lists,
                        _param("waves", "comma-separated wave ids (default: all)", _names(waves))
                        | lists,
                        _param(
                            "by",
                            "one declared breakdown (default: none); a question "
                            "is not broken down by itself",
                            {"enum": list(breakdowns)},
                        ),
                    ],
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "required": ["question", "breakdown", "rows"],
                                "properties": {
                                    "question": {"type": "string"},
                                    "breakdown": _NULL_STR,
                                    "rows": {"type": "array", "items": _ROW},
                                },
                            },
                            "the rows",
                        ),
                        **_errors(sets),
                    },
                }
            },
            "/api/methodology": {
                "get": {
                    "operationId": "methodology",
                    "summary": "Fieldwork, samples, weighting and how margins are computed",
                    "responses": {"200": _json({"type": "object"}, "the methodology")},
                }
            },
        },
    }
