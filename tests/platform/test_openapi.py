"""The committed OpenAPI document is what the handlers' routers produce, and it describes
exactly the catalog's routes with their scopes: the document, the gateway and the deployed
API cannot drift apart."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tradpal.errors import ConfigError
from tradpal.platform.catalog import CATALOG
from tradpal.platform.openapi import DOCUMENT_PATH, build_document, load_routers, render

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="module")
def document() -> dict:
    return build_document(load_routers())


def test_the_committed_document_is_up_to_date(document):
    assert DOCUMENT_PATH.read_text() == render(document), (
        "functions/health/openapi.json is stale: run python scripts/build_openapi.py"
    )


def test_every_catalog_route_and_only_those_are_documented_with_their_scopes(document):
    documented = {
        f"{method.upper()} {path}": op
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    assert set(documented) == set(CATALOG.routes())
    for key, (cap, route) in CATALOG.routes().items():
        op = documented[key]
        assert op["tags"] == [cap.name]
        if route.public:
            assert op["security"] == []
        else:
            assert op["security"] == [{"jwt": list(route.scopes)}]
            for status in ("401", "403", "429"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/ErrorResponse"}
    assert document["components"]["securitySchemes"]["jwt"]["scheme"] == "bearer"


def test_every_route_documents_the_gateways_429_and_431(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            for status in ("429", "431"):
                ref = op["responses"][status]["content"]["application/json"]["schema"]
                assert ref == {"$ref": "#/components/schemas/ErrorResponse"}, (method, path)
    assert "10240 bytes" in op["responses"]["431"]["description"]


def test_validation_errors_are_documented_in_the_one_error_shape(document):
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    for ops in document["paths"].values():
        for op in ops.values():
            if "422" in op["responses"]:
                content = op["responses"]["422"]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/ErrorResponse"}
    assert set(schemas["ErrorResponse"]["properties"]) == {"error"}


def test_a_handler_route_missing_from_the_catalog_is_an_error():
    from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

    stray = APIGatewayHttpRouter()

    @stray.get("/v1/stray")
    def _stray() -> dict:
        return {}

    routers = {**load_routers(), "health": stray}
    with pytest.raises(ConfigError, match="disagree"):
        build_document(routers)


def test_the_document_is_valid_openapi(document):
    from openapi_spec_validator import validate

    validate(json.loads(render(document)))


def test_every_route_that_takes_a_body_documents_413_with_the_real_limit(document):
    # the gateway's docstring once said 10 MB; the binding limit is the Lambda's 6 MB
    from tradpal.platform.catalog import MAX_BODY_BYTES

    with_body = [
        op for ops in document["paths"].values() for op in ops.values() if "requestBody" in op
    ]
    assert with_body
    for op in with_body:
        assert f"{MAX_BODY_BYTES:,} bytes" in op["responses"]["413"]["description"]
