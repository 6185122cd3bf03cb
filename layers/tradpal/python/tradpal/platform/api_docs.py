"""OpenAPI ``responses=`` declarations for routes: the success model and the error shape.

Powertools documents only the responses a route declares once it declares any, so every
route states its success model and each error status it may answer (all in the one error
shape, :class:`~tradpal.platform.http.ErrorResponse`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from tradpal.platform.http import ErrorResponse


def json_content(model: type[BaseModel]) -> dict[str, Any]:
    """``content`` of a JSON response with ``model``'s schema."""
    return {"application/json": {"model": model}}


def responses(
    model: type[BaseModel] | None,
    description: str,
    errors: Mapping[int, str],
    *,
    status: int = 200,
) -> dict[int, dict[str, Any]]:
    """``{status: model, <error status>: ErrorResponse, ...}`` for a route's ``responses=``."""
    out: dict[int, dict[str, Any]] = {
        status: {"description": description, **({"content": json_content(model)} if model else {})}
    }
    for code, text in errors.items():
        out[int(code)] = {"description": text, "content": json_content(ErrorResponse)}
    return out
