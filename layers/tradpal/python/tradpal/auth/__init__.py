"""Authentication: JWT verification as the deployed API Gateway authorizer does it
(:mod:`tradpal.auth.jwt`) and the local development issuer (:mod:`tradpal.auth.issuer`)."""

from tradpal.auth.jwt import (
    AuthError,
    AuthorizerConfig,
    authorize,
    bearer_token,
    token_scopes,
    verify_token,
)

__all__ = [
    "AuthError",
    "AuthorizerConfig",
    "authorize",
    "bearer_token",
    "token_scopes",
    "verify_token",
]
