"""JWT verification exactly as the deployed API Gateway HTTP API JWT authorizer does it.

The deployed API (``cdk/api.py``) puts an HTTP API JWT authorizer on every route but the
public ones; the local gateway (:mod:`tradpal.local.gateway`) calls :func:`bearer_token`,
:func:`verify_token` and :func:`authorize` so that a laptop accepts and refuses the same tokens.
Each rule below names the API Gateway behaviour it mirrors ("Control access to HTTP APIs with
JWT authorizers" in the API Gateway developer guide):

1. Identity source ``$request.header.Authorization``: "can include only the token, or the token
   prefixed with Bearer". A missing or empty header, or a value that is neither, is a 401.
2. Decode: three base64url parts, a JSON header and a JSON object payload; otherwise 401.
3. Algorithm and signature: API Gateway accepts RSA algorithms only and checks the signature
   with the key from the issuer's ``jwks_uri`` whose ``kid`` matches the token's ``kid``
   header. TradPal is stricter: ``RS256`` only (what Cognito and the local issuer sign with),
   so ``alg: none``, ``HS256`` "signed" with the public key (the classic key-confusion attack)
   and every other algorithm are refused before any key is touched. No ``kid``, an unknown
   ``kid`` or a key that is not an RSA signing key: 401.
4. ``iss`` must equal the authorizer's issuer, character for character.
5. ``aud`` must be one of the authorizer's audiences; API Gateway evaluates ``client_id`` (what
   Cognito access tokens carry) only when ``aud`` is absent, and when both are present only
   ``aud`` counts.
6. ``exp`` "must be after the current time", ``nbf`` "must be before the current time" and
   ``iat`` "must be before the current time". ``exp`` is required (a token that never expires
   is refused); ``nbf`` and ``iat`` are checked when present. All three are numbers (seconds
   since the epoch). API Gateway documents no clock leeway; we allow :data:`LEEWAY_S` seconds
   either way for clock granularity between the minting and the checking process.
7. Scopes (``scope``, space separated, or ``scp``, a list) must include at least one of the
   route's authorization scopes, or the request is refused with 403. The deployed routes'
   scopes carry the Cognito resource-server prefix (``tradpal/read``) unless another OIDC
   issuer is configured (see ``cdk/config.py``); :class:`AuthorizerConfig` holds that prefix.

Every refusal is an :class:`AuthError` with ``status`` 401 (``code`` "unauthorized") or 403
(``code`` "forbidden"). AWS answers these with the body ``{"message": "Unauthorized"}`` or
``{"message": "Forbidden"}`` and the reason in the ``www-authenticate`` header; TradPal's one
error shape carries the reason in the body too (:attr:`AuthError.www_authenticate` gives the
header).
"""

from __future__ import annotations

import base64
import json
import math
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt as pyjwt
from jwt.algorithms import RSAAlgorithm

from tradpal.errors import ConfigError, TradPalError

ALGORITHM = "RS256"
# Seconds of clock tolerance on exp, nbf and iat (API Gateway documents none).
LEEWAY_S = 2.0
_B64URL = re.compile(r"[A-Za-z0-9_-]+")
_TOKEN_HINT = "mint a development token with `tradpal token --scope read`"


class AuthError(TradPalError):
    """A request refused by the authorizer: ``status`` 401 (no or bad token) or 403 (scope).

    ``code`` is the error code of the API's error shape: "unauthorized" or "forbidden".
    """

    def __init__(self, message: str, *, status: int = 401, hint: str | None = None) -> None:
        if status not in (401, 403):
            raise ValueError(f"AuthError status must be 401 or 403, not {status}")
        super().__init__(message, hint=hint)
        self.status = status

    @property
    def code(self) -> str:
        return "unauthorized" if self.status == 401 else "forbidden"

    @property
    def www_authenticate(self) -> str:
        """The ``www-authenticate`` header API Gateway sends with the refusal (RFC 6750)."""
        error = "invalid_token" if self.status == 401 else "insufficient_scope"
        # The message can quote token contents (an alg, a kid): keep the header value to
        # printable ASCII without quotes, so nothing can break out of it.
        safe = "".join(c for c in self.message if " " <= c <= "~" and c not in '"\\')[:200]
        return f'Bearer scope="" error="{error}" error_description="{safe}"'


@dataclass(frozen=True)
class AuthorizerConfig:
    """What the API's JWT authorizer accepts.

    ``issuer``: the exact ``iss`` of accepted tokens; ``audiences``: accepted ``aud`` (or
    ``client_id``) values; ``scope_prefix``: prepended to the catalog's route scopes
    (``"tradpal/"`` for the Cognito user pool, ``""`` for other OIDC issuers and the local
    issuer).
    """

    issuer: str
    audiences: tuple[str, ...]
    scope_prefix: str = ""

    def __post_init__(self) -> None:
        if isinstance(self.audiences, str):
            object.__setattr__(self, "audiences", (self.audiences,))
        object.__setattr__(self, "audiences", tuple(self.audiences))
        if not isinstance(self.issuer, str) or not self.issuer:
            raise ConfigError(
                "the authorizer needs an issuer", hint="give the exact iss of accepted tokens"
            )
        if not self.audiences or not all(isinstance(a, str) and a for a in self.audiences):
            raise ConfigError(
                f"the authorizer's audiences {list(self.audiences)!r} are empty or not strings",
                hint="give at least one accepted aud (or Cognito client id)",
            )

    def route_scopes(self, scopes: Iterable[str]) -> tuple[str, ...]:
        """A route's catalog scopes as the token must carry them (with the prefix)."""
        return tuple(f"{self.scope_prefix}{s}" for s in scopes)


def bearer_token(header_value: str | None) -> str:
    """The token in an ``Authorization`` header value: ``Bearer <token>`` or the bare token,
    as API Gateway accepts both. Raises a 401 :class:`AuthError` when it is missing or
    malformed."""
    if header_value is None or not header_value.strip():
        raise AuthError(
            "the request has no Authorization header",
            hint=f"send 'Authorization: Bearer <token>'; {_TOKEN_HINT}",
        )
    value = header_value.strip()
    if value[:7].lower() == "bearer ":
        value = value[7:].strip()
    if not value or any(c.isspace() for c in value):
        raise AuthError(
            "the Authorization header is malformed",
            hint="send 'Authorization: Bearer <token>' with one JWT and nothing else",
        )
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


@lru_cache(maxsize=64)
def _rsa_key(kid: str, n: str, e: str) -> Any:
    # Parsing a JWK costs more than verifying with it; keys are immutable per (kid, n, e).
    return RSAAlgorithm.from_jwk({"kty": "RSA", "kid": kid, "n": n, "e": e})


def _signing_key(kid: str, jwks: Mapping[str, Any]) -> Any:
    keys = jwks.get("keys") if isinstance(jwks, Mapping) else None
    for jwk in keys if isinstance(keys, list) else ():
        if not isinstance(jwk, Mapping) or jwk.get("kid") != kid:
            continue
        if (
            jwk.get("kty") != "RSA"
            or jwk.get("use", "sig") != "sig"
            or jwk.get("alg", ALGORITHM) != ALGORITHM
            or not isinstance(jwk.get("n"), str)
            or not isinstance(jwk.get("e"), str)
        ):
            raise AuthError(f"the issuer's key {kid!r} is not an RS256 signing key")
        try:
            return _rsa_key(kid, jwk["n"], jwk["e"])
        except (ValueError, TypeError, pyjwt.PyJWTError) as exc:
            raise AuthError(f"the issuer's key {kid!r} is malformed") from exc
    raise AuthError(
        f"no key with kid {kid[:64]!r} in the issuer's JWKS",
        hint="the token was signed by another issuer or a rotated key; " + _TOKEN_HINT,
    )


def _check_audience(claims: Mapping[str, Any], audiences: tuple[str, ...]) -> None:
    if "aud" in claims:  # API Gateway reads client_id only when aud is absent
        aud = claims["aud"]
        values = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    else:
        values = [claims.get("client_id")]
    if not any(isinstance(v, str) and v in audiences for v in values):
        raise AuthError(
            "the token does not have a valid audience",
            hint=f"the API accepts aud (or client_id) in {list(audiences)}",
        )


def _check_times(claims: Mapping[str, Any], now: float, leeway_s: float) -> None:
    exp = claims.get("exp")
    if not _is_number(exp):
        raise AuthError("the token has no numeric exp claim", hint="tokens must expire")
    if now >= exp + leeway_s:
        raise AuthError("the token has expired", hint=_TOKEN_HINT)
    for name, text in (("nbf", "is not valid yet"), ("iat", "is issued in the future")):
        if name not in claims:
            continue
        if not _is_number(claims[name]):
            raise AuthError(f"the token's {name} claim is not a number")
        if claims[name] > now + leeway_s:
            raise AuthError(f"the token {text} ({name} is after the current time)")


def _header(part: str) -> dict[str, Any]:
    """The JOSE header: base64url (no padding) of a JSON object."""
    try:
        if not part or not _B64URL.fullmatch(part):
            raise ValueError("not base64url")
        header = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    except (ValueError, TypeError) as exc:
        raise AuthError("the token's header cannot be decoded", hint=_TOKEN_HINT) from exc
    if not isinstance(header, dict):
        raise AuthError("the token's header is not a JSON object", hint=_TOKEN_HINT)
    return header


def verify_token(
    token: str,
    config: AuthorizerConfig,
    jwks: Mapping[str, Any],
    *,
    now: float | None = None,
    leeway_s: float = LEEWAY_S,
) -> dict[str, Any]:
    """The verified claims of ``token``, or a 401 :class:`AuthError` saying why it is refused.

    ``jwks``: the issuer's JSON Web Key Set (``{"keys": [...]}``); ``now``: seconds since the
    epoch (default: the current time); ``leeway_s``: clock tolerance for ``exp``, ``nbf`` and
    ``iat``. Checks, in API Gateway's order: structure, algorithm (RS256 only), ``kid`` and
    signature, ``iss``, ``aud``/``client_id``, ``exp``, ``nbf``, ``iat``. Scopes are checked
    per route by :func:`authorize`.
    """
    if not isinstance(token, str) or token.count(".") != 2:
        raise AuthError("the token is not a JWT (three base64url parts)", hint=_TOKEN_HINT)
    header = _header(token.split(".", 1)[0])
    alg = header.get("alg")
    if alg != ALGORITHM:
        raise AuthError(
            f"the token's algorithm {str(alg)[:16]!r} is not accepted",
            hint=f"the API accepts {ALGORITHM} tokens signed by its issuer only",
        )
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise AuthError("the token has no kid header", hint=_TOKEN_HINT)
    key = _signing_key(kid, jwks)
    try:
        # Signature only: every claim rule is enforced explicitly below.
        claims = pyjwt.decode(
            token,
            key=key,
            algorithms=[ALGORITHM],
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": [],
            },
        )
    except pyjwt.InvalidSignatureError as exc:
        raise AuthError("the token's signature is invalid", hint=_TOKEN_HINT) from exc
    except (pyjwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthError("the token cannot be decoded", hint=_TOKEN_HINT) from exc
    if claims.get("iss") != config.issuer:
        raise AuthError(
            "the token's issuer is not the API's issuer",
            hint=f"the API accepts tokens from {config.issuer!r}",
        )
    _check_audience(claims, config.audiences)
    _check_times(claims, time.time() if now is None else now, leeway_s)
    return claims


def token_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's scopes: the space-separated ``scope`` claim, else the ``scp`` list."""
    value = claims.get("scope", claims.get("scp"))
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list):
        return frozenset(s for s in value if isinstance(s, str))
    return frozenset()


def authorize(
    claims: Mapping[str, Any], required: tuple[str, ...], config: AuthorizerConfig
) -> None:
    """Raise a 403 :class:`AuthError` unless the token has one of ``required`` (catalog
    scopes, without the prefix). An empty ``required`` admits any valid token, as a route
    without authorization scopes does."""
    if not required:
        return
    needed = config.route_scopes(required)
    if token_scopes(claims).isdisjoint(needed):
        raise AuthError(
            f"the token lacks the scope this route needs (one of: {', '.join(needed)})",
            status=403,
            hint=f"mint a token with that scope: `tradpal token --scope {required[0]}`",
        )
