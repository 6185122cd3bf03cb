"""The local token issuer: an RS256 key pair under ``TRADPAL_HOME`` that mints development
tokens the local gateway accepts, as a Cognito user pool does for the deployed API.

Files in the issuer's directory (default ``<TRADPAL_HOME>/platform/issuer/``, mode 0700):

- ``private_key.pem``: the RSA private key (PKCS#8 PEM, mode 0600). It is created once, on
  first use, and reused after, so tokens survive a restart of the platform. It is never logged
  or printed.
- ``issuer.json``: ``{"issuer", "audience", "scope_prefix", "kid"}``, so that ``tradpal token``
  in another process mints tokens the running platform accepts.

The issuer string is stable (:data:`DEFAULT_ISSUER`), not the gateway's URL, so tokens stay
valid when the gateway's port changes; the gateway serves the JWKS and an OpenID discovery
document that names it. ``kid`` is the key's RFC 7638 JWK thumbprint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jwt as pyjwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tradpal.auth.jwt import ALGORITHM, AuthorizerConfig
from tradpal.errors import ConfigError
from tradpal.files import create_file, replace_file
from tradpal.platform.catalog import SCOPES

DEFAULT_ISSUER = "https://tradpal.local/issuer"
DEFAULT_AUDIENCE = "tradpal-local"
KEY_FILE = "private_key.pem"
META_FILE = "issuer.json"
KEY_BITS = 2048
MAX_TTL_S = 30 * 86_400
_log = logging.getLogger(__name__)


def default_directory() -> Path:
    """``<TRADPAL_HOME>/platform/issuer``: where the local issuer keeps its key."""
    from tradpal.config import load_settings  # settings pull in pandas: only when needed

    return load_settings().home / "platform" / "issuer"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8 or 1, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def jwk_thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an RSA JWK (base64url, no padding): the SHA-256 of
    the required members ``e``, ``kty``, ``n`` as JSON with sorted keys and no whitespace."""
    canonical = json.dumps(
        {"e": jwk["e"], "kty": jwk["kty"], "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    digest = hashlib.sha256(canonical.encode("utf-8")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def openid_configuration(
    issuer: str, base_url: str, scopes: Sequence[str] = SCOPES
) -> dict[str, Any]:
    """An OpenID Connect discovery document for ``issuer`` whose keys are served at
    ``<base_url>/.well-known/jwks.json``."""
    return {
        "issuer": issuer,
        "jwks_uri": f"{base_url.rstrip('/')}/.well-known/jwks.json",
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "token_endpoint_auth_signing_alg_values_supported": [ALGORITHM],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
        "scopes_supported": list(scopes),
        "claims_supported": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "scope"],
    }


class LocalIssuer:
    """An RS256 issuer for development tokens. Build it with :meth:`load_or_create`."""

    def __init__(
        self,
        private_key: rsa.RSAPrivateKey,
        *,
        issuer: str,
        audience: str,
        scope_prefix: str = "",
        directory: Path | None = None,
    ) -> None:
        self._key = private_key
        self.issuer = issuer
        self.audience = audience
        self.scope_prefix = scope_prefix
        self.directory = directory
        numbers = private_key.public_key().public_numbers()
        self._public_jwk = {
            "kty": "RSA",
            "use": "sig",
            "alg": ALGORITHM,
            "n": _b64url_uint(numbers.n),
            "e": _b64url_uint(numbers.e),
        }
        self.kid = jwk_thumbprint(self._public_jwk)
        self._public_jwk["kid"] = self.kid

    def __repr__(self) -> str:  # never the key
        return f"LocalIssuer(issuer={self.issuer!r}, audience={self.audience!r}, kid={self.kid!r})"

    @classmethod
    def load_or_create(
        cls,
        directory: Path | str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        *,
        scope_prefix: str | None = None,
    ) -> LocalIssuer:
        """The issuer kept in ``directory`` (default :func:`default_directory`), creating its
        key on first use.

        ``issuer``/``audience``/``scope_prefix`` left as None take the stored values (or the
        defaults, the first time); given values are stored for the next process (a running
        platform passes them, ``tradpal token`` reads them).
        """
        folder = Path(directory) if directory is not None else default_directory()
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path, meta_path = folder / KEY_FILE, folder / META_FILE
        if not key_path.exists():
            key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            if create_file(key_path, pem, mode=0o600):
                _log.info("created the local issuer's signing key in %s", folder)
        key = cls._read_key(key_path)
        stored = cls._read_meta(meta_path)
        this = cls(
            key,
            issuer=issuer or stored.get("issuer") or DEFAULT_ISSUER,
            audience=audience or stored.get("audience") or DEFAULT_AUDIENCE,
            scope_prefix=scope_prefix
            if scope_prefix is not None
            else str(stored.get("scope_prefix", "")),
            directory=folder,
        )
        meta = {
            "issuer": this.issuer,
            "audience": this.audience,
            "scope_prefix": this.scope_prefix,
            "kid": this.kid,
        }
        if meta != stored:
            replace_file(meta_path, json.dumps(meta, indent=2) + "\n")
        return this

    @staticmethod
    def _read_key(path: Path) -> rsa.RSAPrivateKey:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            # Readable by others: tighten it rather than keep signing with an exposed key file.
            _log.warning("the issuer key %s had mode %o; setting it to 600", path, mode)
            path.chmod(0o600)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigError(
                f"the local issuer's key {path} cannot be read",
                hint="delete the file to create a new key (tokens minted before stop working)",
            ) from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigError(
                f"the local issuer's key {path} is not an RSA key",
                hint="delete the file to create a new key",
            )
        return key

    @staticmethod
    def _read_meta(path: Path) -> dict[str, Any]:
        if not path.exists():
            return {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError) as exc:
            raise ConfigError(
                f"the local issuer's settings {path} are not valid JSON",
                hint="delete the file; it is rewritten on next start",
            ) from exc
        return data if isinstance(data, dict) else {}

    def jwks(self) -> dict[str, Any]:
        """The public JSON Web Key Set (``{"keys": [jwk]}``): no private members."""
        return {"keys": [dict(self._public_jwk)]}

    def openid_configuration(self, base_url: str) -> dict[str, Any]:
        """The OpenID discovery document, with the JWKS at ``<base_url>/.well-known/jwks.json``."""
        return openid_configuration(self.issuer, base_url)

    def authorizer_config(self) -> AuthorizerConfig:
        """The authorizer settings that accept this issuer's tokens."""
        return AuthorizerConfig(self.issuer, (self.audience,), self.scope_prefix)

    def sign(self, claims: Mapping[str, Any], *, headers: Mapping[str, Any] | None = None) -> str:
        """``claims`` signed with RS256 under this issuer's key and ``kid``, as they are.

        :meth:`mint` is the normal way; this one signs anything (tests craft bad tokens).
        """
        return pyjwt.encode(
            dict(claims),
            self._key,
            algorithm=ALGORITHM,
            headers={"kid": self.kid, **(headers or {})},
        )

    def mint(
        self,
        scopes: Sequence[str],
        *,
        ttl_s: int = 3600,
        subject: str = "local-user",
        now: float | None = None,
        extra_claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A signed access token with ``scopes`` (catalog scopes: read, trade, admin; the
        issuer's scope prefix is added), valid from ``now`` (seconds since the epoch, default
        the current time) for ``ttl_s`` seconds, for ``subject``."""
        names = [s.strip() for s in ([scopes] if isinstance(scopes, str) else scopes)]
        unknown = [s for s in names if s not in SCOPES]
        if not names or unknown:
            raise ConfigError(
                f"unknown or missing scopes {unknown or names!r}",
                hint=f"use one or more of {', '.join(SCOPES)}, e.g. --scope read,trade",
            )
        if not isinstance(ttl_s, int) or isinstance(ttl_s, bool) or not 1 <= ttl_s <= MAX_TTL_S:
            raise ConfigError(
                f"token lifetime {ttl_s!r} s is out of range",
                hint=f"use 1..{MAX_TTL_S} seconds (30 days)",
            )
        if not isinstance(subject, str) or not subject.strip():
            raise ConfigError("the token subject is empty", hint="give a user name")
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl_s,
            "jti": uuid.uuid4().hex,
            "token_use": "access",
            "scope": " ".join(dict.fromkeys(f"{self.scope_prefix}{s}" for s in names)),
        }
        claims.update(extra_claims or {})
        return self.sign(claims)
