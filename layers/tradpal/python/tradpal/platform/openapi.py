"""The OpenAPI document of the whole HTTP API, built from every capability's routes.

Each capability declares its routes on a Powertools router in ``functions/<name>/handler.py``;
this module puts the routers into one resolver, asks Powertools for the document (request and
response models come from the handlers' pydantic types) and completes it from the catalog:
the JWT security requirement with each route's scopes, and the error responses the gateway
adds (401, 403, 429, 431; 413 and 415 where a body is taken) in the one error shape. A route
in the catalog with no handler, or a handler route the catalog does not know, is an error:
the document, the gateway and the deployed API cannot disagree.

``scripts/build_openapi.py`` writes the document to ``functions/health/openapi.json``
(committed; the health function serves it at ``GET /v1/openapi``); a test rebuilds it and
compares.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradpal.errors import ConfigError
from tradpal.platform.catalog import CATALOG, MAX_BODY_BYTES, Catalog
from tradpal.platform.http import ErrorResponse, make_app

DOCUMENT_PATH = Path(__file__).resolve().parents[5] / "functions" / "health" / "openapi.json"
SECURITY_SCHEME = "jwt"
TITLE = "TradPal API"
DESCRIPTION = (
    "TradPal's HTTPS API. Every route except health and this document needs a JWT bearer "
    "token with one of the route's scopes (read, trade, admin). Errors have one shape: "
    '{"error": {"code", "message", "details"}}.'
)
_GATEWAY_ERRORS = {
    "401": "No token, or a token that is expired, not yet valid, badly signed or not for this API",
    "403": "The token lacks every scope the route accepts",
    "429": "Too many requests for this route; retry after the Retry-After seconds (details.limit "
    "says whose limit it was: the route's, for all callers together, or the local gateway's "
    "per-caller one)",
    "431": "The request's headers are too large (the deployed API takes at most 10240 bytes of "
    "request line and headers together): send a shorter token or fewer, shorter headers",
}
# The gateway's answers a public route can still get (it checks no token there).
_PUBLIC_GATEWAY_ERRORS = ("429", "431")
_METHODS = ("get", "post", "put", "patch", "delete")


def load_routers(catalog: Catalog = CATALOG) -> dict[str, Any]:
    """``{capability: router}`` from ``functions.<name>.handler`` of every capability with
    routes (needs the repository checkout on ``sys.path``)."""
    routers = {}
    for cap in catalog:
        if not cap.routes:
            continue
        module = importlib.import_module(f"functions.{cap.name}.handler")
        router = getattr(module, "router", None)
        if router is None:
            raise ConfigError(
                f"functions/{cap.name}/handler.py has no `router`",
                hint="declare the capability's routes on a Powertools Router named `router`",
            )
        routers[cap.name] = router
    return routers


def _openapi_path(catalog_path: str) -> str:
    return catalog_path  # catalog paths already use {param}, as OpenAPI does


def build_document(
    routers: Mapping[str, Any], catalog: Catalog = CATALOG, *, version: str | None = None
) -> dict[str, Any]:
    """The OpenAPI 3 document (a plain dict) of ``routers`` checked against ``catalog``."""
    from tradpal import __version__

    app = make_app()
    for router in routers.values():
        app.include_router(router)
    doc = json.loads(
        app.get_openapi_json_schema(
            title=TITLE, version=version or __version__, description=DESCRIPTION
        )
    )
    paths: dict[str, Any] = doc.get("paths", {})
    declared = {
        f"{method.upper()} {path}"
        for path, ops in paths.items()
        for method in ops
        if method in _METHODS
    }
    expected = {
        f"{route.method} {_openapi_path(route.path)}": route
        for cap in catalog
        if cap.name in routers
        for route in cap.routes
    }
    missing, extra = sorted(set(expected) - declared), sorted(declared - set(expected))
    if missing or extra:
        raise ConfigError(
            f"handlers and catalog disagree: routes without a handler {missing}, "
            f"handler routes not in the catalog {extra}",
            hint="add the route to tradpal/platform/catalog.py or to the capability's router",
        )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    error_ref = {"$ref": "#/components/schemas/ErrorResponse"}
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {
        SECURITY_SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An RS256 JWT from the configured issuer (Cognito, any OIDC "
            "issuer, or the local platform's `tradpal token`)",
        }
    }
    for key, route in expected.items():
        method, path = key.split(" ", 1)
        op = paths[path][method.lower()]
        op["tags"] = [next(c.name for c in catalog if route in c.routes)]
        responses = op.setdefault("responses", {})
        # Our 422 has the one error shape, not Powertools' default body.
        if "422" in responses:
            responses["422"] = {
                "description": "The request fails validation; details name each field",
                "content": {"application/json": {"schema": error_ref}},
            }
        if "requestBody" in op:
            responses.setdefault(
                "413",
                {
                    "description": f"The request body is over {MAX_BODY_BYTES:,} bytes (6 MB, "
                    "the most a Lambda invocation takes)",
                    "content": {"application/json": {"schema": error_ref}},
                },
            )
            responses.setdefault(
                "415",
                {
                    "description": "The request body is not JSON",
                    "content": {"application/json": {"schema": error_ref}},
                },
            )
        if route.public:
            op["security"] = []
            gateway = {status: _GATEWAY_ERRORS[status] for status in _PUBLIC_GATEWAY_ERRORS}
        else:
            op["security"] = [{SECURITY_SCHEME: list(route.scopes)}]
            gateway = _GATEWAY_ERRORS
        for status, description in gateway.items():
            responses.setdefault(
                status,
                {
                    "description": description,
                    "content": {"application/json": {"schema": error_ref}},
                },
            )
    _drop_unused(doc)
    return doc


def _drop_unused(doc: dict[str, Any]) -> None:
    """Remove component schemas nothing refers to (Powertools' validation error models)."""
    schemas = doc.get("components", {}).get("schemas", {})
    while True:
        text = json.dumps({k: v for k, v in doc.items() if k != "components"}) + json.dumps(schemas)
        used = set(re.findall(r"#/components/schemas/([A-Za-z0-9_.-]+)", text))
        unused = [name for name in schemas if name not in used and name != "ErrorResponse"]
        if not unused:
            return
        for name in unused:
            del schemas[name]


def render(doc: Mapping[str, Any]) -> str:
    """The document as committed: sorted keys, two-space indent, trailing newline."""
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"
