"""API stack: a route per catalog route behind the JWT authorizer with its scopes, per-route
throttles, access logs, CORS; Cognito by default, any OIDC issuer by context."""

from __future__ import annotations

import json

from tradpal.platform.catalog import CATALOG


def _routes(synth) -> dict[str, dict]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in synth.resources("api", "AWS::ApiGatewayV2::Route").values()
    }


def _integration_function(synth, route: dict) -> str:
    """The capability whose function a route's integration invokes."""
    integration_id = route["Target"]["Fn::Join"][1][1]["Ref"]
    integration = synth.templates["api"]["Resources"][integration_id]["Properties"]
    imported = integration["IntegrationUri"]["Fn::ImportValue"]
    for fid, fn in synth.resources("functions", "AWS::Lambda::Function").items():
        if fid in imported:
            return fn["Properties"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"]
    raise AssertionError(imported)


def test_every_catalog_route_with_its_function_authorizer_and_scopes(synth_dev):
    routes = _routes(synth_dev)
    (authorizer_id,) = synth_dev.resources("api", "AWS::ApiGatewayV2::Authorizer")
    expected = CATALOG.routes()
    assert set(routes) == set(expected)
    for key, (cap, route) in expected.items():
        props = routes[key]
        assert _integration_function(synth_dev, props) == cap.name
        if route.public:
            assert props["AuthorizationType"] == "NONE"
            assert "AuthorizationScopes" not in props
        else:
            assert props["AuthorizationType"] == "JWT"
            assert props["AuthorizerId"] == {"Ref": authorizer_id}
            # Cognito access tokens carry "<resource server>/<scope>"
            assert props["AuthorizationScopes"] == [f"tradpal/{s}" for s in route.scopes]


def test_cognito_pool_client_and_scopes_back_the_jwt_authorizer(synth_dev):
    (authorizer,) = synth_dev.resources("api", "AWS::ApiGatewayV2::Authorizer").values()
    jwt = authorizer["Properties"]["JwtConfiguration"]
    (pool_id,) = synth_dev.resources("api", "AWS::Cognito::UserPool")
    (client_id,) = synth_dev.resources("api", "AWS::Cognito::UserPoolClient")
    assert jwt["Audience"] == [{"Ref": client_id}]
    assert {"Ref": pool_id} in jwt["Issuer"]["Fn::Join"][1]
    (server,) = synth_dev.resources("api", "AWS::Cognito::UserPoolResourceServer").values()
    assert server["Properties"]["Identifier"] == "tradpal"
    assert [s["ScopeName"] for s in server["Properties"]["Scopes"]] == ["read", "trade", "admin"]
    (pool,) = synth_dev.resources("api", "AWS::Cognito::UserPool").values()
    assert pool["Properties"]["MfaConfiguration"] == "ON"
    assert pool["Properties"]["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True


def test_external_oidc_issuer_replaces_cognito(synth_prod):
    assert synth_prod.resources("api", "AWS::Cognito::UserPool") == {}
    (authorizer,) = synth_prod.resources("api", "AWS::ApiGatewayV2::Authorizer").values()
    assert authorizer["Properties"]["JwtConfiguration"] == {
        "Audience": ["tradpal-api"],
        "Issuer": "https://login.example.com/",
    }
    scopes = _routes(synth_prod)["POST /v1/backtests"]["AuthorizationScopes"]
    assert scopes == ["trade"]  # other issuers: plain scope names


def test_throttle_per_route_and_json_access_logs(synth_dev):
    (stage,) = synth_dev.resources("api", "AWS::ApiGatewayV2::Stage").values()
    props = stage["Properties"]
    settings = props["RouteSettings"]
    for key, (_, route) in CATALOG.routes().items():
        assert settings[key] == {
            "ThrottlingRateLimit": route.throttle.rate,
            "ThrottlingBurstLimit": route.throttle.burst,
        }
    assert props["AutoDeploy"] is True
    log_format = json.loads(props["AccessLogSettings"]["Format"])
    assert {"requestId", "routeKey", "status", "latencyMs"} <= set(log_format)
    assert not any("authorization" in v.lower() for v in log_format.values())
    log_group = props["AccessLogSettings"]["DestinationArn"]["Fn::GetAtt"][0]
    assert log_group in synth_dev.resources("api", "AWS::Logs::LogGroup")
    # the stage is created after the routes it configures
    assert set(stage["DependsOn"]) >= set(synth_dev.resources("api", "AWS::ApiGatewayV2::Route"))


def test_cors_for_the_dashboard(synth_dev):
    (api,) = synth_dev.resources("api", "AWS::ApiGatewayV2::Api").values()
    cors = api["Properties"]["CorsConfiguration"]
    assert cors["AllowOrigins"] == ["http://localhost:8000"]
    assert "authorization" in cors["AllowHeaders"]


def test_custom_domain_by_context(synth_dev, synth_prod):
    assert synth_dev.resources("api", "AWS::ApiGatewayV2::DomainName") == {}
    ((domain_id, domain),) = synth_prod.resources("api", "AWS::ApiGatewayV2::DomainName").items()
    props = domain["Properties"]
    assert props["DomainName"] == "api.example.com"
    (config,) = props["DomainNameConfigurations"]
    assert config["CertificateArn"].endswith("certificate/abc-123")
    (mapping,) = synth_prod.resources("api", "AWS::ApiGatewayV2::ApiMapping").values()
    assert mapping["Properties"]["DomainName"] == {"Ref": domain_id}
