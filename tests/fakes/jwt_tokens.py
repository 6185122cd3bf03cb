"""Hand-made JWTs for auth tests: the tokens an attacker or a broken client sends."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.hazmat.primitives import serialization
from jwt.algorithms import RSAAlgorithm

from tradpal.auth.issuer import LocalIssuer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _part(obj: Any) -> str:
    return b64url(json.dumps(obj).encode())


def hs256(header: dict, claims: dict, secret: bytes) -> str:
    """A token HMAC-signed with ``secret`` (pyjwt refuses to key HMAC with a PEM)."""
    signing_input = f"{_part(header)}.{_part(claims)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(sig)}"


def unsigned(header: dict, claims: dict) -> str:
    return f"{_part(header)}.{_part(claims)}."


def public_pem(jwk: dict) -> bytes:
    return RSAAlgorithm.from_jwk(jwk).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def claims_for(issuer: LocalIssuer, now: float | None = None, **over: Any) -> dict:
    """Valid claims for ``issuer`` at ``now`` with ``scope`` "read"; ``None`` drops a claim."""
    t = int(time.time() if now is None else now)
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "u",
        "iat": t - 10,
        "nbf": t - 10,
        "exp": t + 600,
        "scope": "read",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def refused_tokens(issuer: LocalIssuer, other: LocalIssuer) -> dict[str, str]:
    """Tokens the authorizer must refuse with 401, by name; ``other`` is another key pair."""
    now = time.time()
    good = claims_for(issuer, now)
    jwk = issuer.jwks()["keys"][0]
    header, _, sig = issuer.sign(good).split(".")
    hs_header = {"alg": "HS256", "kid": issuer.kid, "typ": "JWT"}
    return {
        "expired": issuer.sign(claims_for(issuer, now, iat=int(now) - 7200, exp=int(now) - 60)),
        "not_yet_valid": issuer.mint(["read"], now=now + 3600),
        "wrong_issuer": issuer.sign(claims_for(issuer, now, iss="https://evil.example")),
        "wrong_audience": issuer.sign(claims_for(issuer, now, aud="someone-else")),
        "tampered_payload": f"{header}.{_part(claims_for(issuer, now, scope='admin'))}.{sig}",
        "other_key": other.sign(good),
        "other_key_same_kid": other.sign(good, headers={"kid": issuer.kid}),
        "alg_none": unsigned({"alg": "none", "kid": issuer.kid, "typ": "JWT"}, good),
        "hs256_public_pem": hs256(hs_header, good, public_pem(jwk)),
        "hs256_public_jwk": hs256(hs_header, good, json.dumps(jwk).encode()),
        "three_parts_not_base64": "!!!.@@@.###",
        "garbage": "garbage",
    }
