"""API stack: the HTTP API with a JWT authorizer (a Cognito user pool by default, any OIDC
issuer by context), a route per catalog route with its scopes and throttle, access logs, CORS
and an optional custom domain."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_apigatewayv2 as apigw
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_certificatemanager as acm
from aws_cdk import aws_cognito as cognito
from aws_cdk import aws_logs as logs
from constructs import Construct

from cdk.config import StageConfig
from cdk.functions import FunctionsStack
from cdk.nag import acknowledge
from tradpal.platform.catalog import SCOPES, Catalog

RESOURCE_SERVER = "tradpal"
# One JSON line per request; no headers or bodies, so no tokens or secrets reach the logs.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "ip": "$context.identity.sourceIp",
        "routeKey": "$context.routeKey",
        "status": "$context.status",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
        "subject": "$context.authorizer.claims.sub",
        "requestTime": "$context.requestTime",
    }
)


class ApiStack(cdk.Stack):
    """``http_api``, ``stage``, ``authorizer`` (and ``user_pool``/``client`` with Cognito)."""

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        config: StageConfig,
        catalog: Catalog,
        functions: FunctionsStack,
        **kw,
    ) -> None:
        super().__init__(scope, id, **kw)
        self.config = config
        self.user_pool: cognito.UserPool | None = None
        self.client: cognito.UserPoolClient | None = None
        if config.oidc_issuer:
            issuer, audience = config.oidc_issuer, list(config.oidc_audience)
        else:
            issuer, audience = self._cognito()
        self.authorizer = authorizers.HttpJwtAuthorizer(
            "JwtAuthorizer", issuer, jwt_audience=audience, authorizer_name="tradpal-jwt"
        )
        self.http_api = apigw.HttpApi(
            self,
            "HttpApi",
            api_name=config.prefix,
            description="TradPal API",
            create_default_stage=False,
            cors_preflight=apigw.CorsPreflightOptions(
                allow_origins=list(config.cors_origins),
                allow_methods=[apigw.CorsHttpMethod.ANY],
                allow_headers=["authorization", "content-type", "idempotency-key"],
                max_age=cdk.Duration.hours(1),
            ),
        )
        self.routes: dict[str, apigw.HttpRoute] = {}
        for cap in catalog:
            if not cap.routes:
                continue
            integration = integrations.HttpLambdaIntegration(
                f"{cap.name}-integration", functions.functions[cap.name]
            )
            for route in cap.routes:
                (self.routes[route.key],) = self.http_api.add_routes(
                    path=route.path,
                    methods=[apigw.HttpMethod(route.method)],
                    integration=integration,
                    authorizer=apigw.HttpNoneAuthorizer() if route.public else self.authorizer,
                    authorization_scopes=None
                    if route.public
                    else [f"{config.scope_prefix}{s}" for s in route.scopes],
                )
                if route.public:
                    acknowledge(
                        self.routes[route.key],
                        "APIG4",
                        f"{route.key} is the public health check for uptime monitors; it "
                        "returns liveness and version only, no data.",
                    )
        self.access_logs = logs.LogGroup(
            self,
            "AccessLogs",
            retention=config.log_retention,
            removal_policy=config.removal_policy,
        )
        domain = None
        if config.domain_name:
            domain = apigw.DomainName(
                self,
                "Domain",
                domain_name=config.domain_name,
                certificate=acm.Certificate.from_certificate_arn(
                    self, "Certificate", config.certificate_arn
                ),
            )
        self.stage = apigw.HttpStage(
            self,
            "Stage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            domain_mapping=apigw.DomainMappingOptions(domain_name=domain) if domain else None,
        )
        cfn_stage: apigw.CfnStage = self.stage.node.default_child
        cfn_stage.access_log_settings = apigw.CfnStage.AccessLogSettingsProperty(
            destination_arn=self.access_logs.log_group_arn, format=ACCESS_LOG_FORMAT
        )
        # Per-route throttles are stage route settings keyed by route key; the routes must
        # exist before the stage refers to them.
        route_settings = {}
        for _cap, route in catalog.routes().values():
            route_settings[route.key] = {
                "ThrottlingRateLimit": route.throttle.rate,
                "ThrottlingBurstLimit": route.throttle.burst,
            }
        cfn_stage.route_settings = route_settings
        cfn_stage.default_route_settings = apigw.CfnStage.RouteSettingsProperty(
            throttling_rate_limit=10, throttling_burst_limit=20
        )
        for route in self.routes.values():
            cfn_stage.node.add_dependency(route)
        cdk.CfnOutput(self, "ApiUrl", value=self.http_api.api_endpoint)
        cdk.CfnOutput(self, "JwtIssuer", value=issuer)

    def _cognito(self) -> tuple[str, list[str]]:
        pool = cognito.UserPool(
            self,
            "UserPool",
            user_pool_name=self.config.prefix,
            self_sign_up_enabled=False,  # an operator invites users
            sign_in_aliases=cognito.SignInAliases(email=True),
            password_policy=cognito.PasswordPolicy(
                min_length=12,
                require_digits=True,
                require_lowercase=True,
                require_uppercase=True,
                require_symbols=True,
            ),
            mfa=cognito.Mfa.REQUIRED,
            mfa_second_factor=cognito.MfaSecondFactor(otp=True, sms=False),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            removal_policy=self.config.removal_policy,
            deletion_protection=self.config.is_prod,
        )
        acknowledge(
            pool,
            "COG8",
            "Threat protection needs the Cognito Plus feature plan (paid per user); MFA is "
            "required and self sign-up is off, which covers a single-operator platform.",
        )
        server = pool.add_resource_server(
            "ResourceServer",
            identifier=RESOURCE_SERVER,
            scopes=[
                cognito.ResourceServerScope(scope_name=s, scope_description=f"TradPal {s}")
                for s in SCOPES
            ],
        )
        scopes = [
            cognito.OAuthScope.resource_server(
                server, cognito.ResourceServerScope(scope_name=s, scope_description=f"TradPal {s}")
            )
            for s in SCOPES
        ]
        pool.add_domain(
            "Domain",
            cognito_domain=cognito.CognitoDomainOptions(
                domain_prefix=f"{self.config.prefix}-{cdk.Aws.ACCOUNT_ID}"
            ),
        )
        client = pool.add_client(
            "DashboardClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_srp=True),
            o_auth=cognito.OAuthSettings(
                flows=cognito.OAuthFlows(authorization_code_grant=True),
                scopes=[cognito.OAuthScope.OPENID, cognito.OAuthScope.EMAIL, *scopes],
                callback_urls=[f"{o}/callback" for o in self.config.cors_origins],
                logout_urls=list(self.config.cors_origins),
            ),
            prevent_user_existence_errors=True,
        )
        self.user_pool, self.client = pool, client
        issuer = f"https://cognito-idp.{cdk.Aws.REGION}.amazonaws.com/{pool.user_pool_id}"
        cdk.CfnOutput(self, "UserPoolId", value=pool.user_pool_id)
        cdk.CfnOutput(self, "ClientId", value=client.user_pool_client_id)
        return issuer, [client.user_pool_client_id]
