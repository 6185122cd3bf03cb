"""verify_token, bearer_token, authorize and token_scopes: every rule of the HTTP API JWT
authorizer, each refused for the right reason and none accepted by accident."""

from __future__ import annotations

import base64
import json
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from fakes.jwt_tokens import b64url, hs256, public_pem, refused_tokens, unsigned
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradpal.auth.issuer import LocalIssuer
from tradpal.auth.jwt import (
    LEEWAY_S,
    AuthError,
    AuthorizerConfig,
    authorize,
    bearer_token,
    token_scopes,
    verify_token,
)
from tradpal.errors import ConfigError, TradPalError

NOW = 1_800_000_000.0
# Module-scoped fixtures are safe to share between hypothesis examples.
_FIXTURE = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("issuer"))


@pytest.fixture(scope="module")
def other(tmp_path_factory) -> LocalIssuer:
    """Another key pair claiming the same issuer and audience."""
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("other"))


def _claims(issuer: LocalIssuer, **over) -> dict:
    claims = {
        "iss": issuer.issuer,
        "aud": issuer.audience,
        "sub": "u",
        "iat": int(NOW) - 10,
        "nbf": int(NOW) - 10,
        "exp": int(NOW) + 600,
        "scope": "read trade",
    }
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(token, issuer, *, status=401, match=None, config=None, jwks=None) -> AuthError:
    with pytest.raises(AuthError, match=match) as info:
        keys = issuer.jwks() if jwks is None else jwks
        verify_token(token, config or issuer.authorizer_config(), keys, now=NOW)
    assert info.value.status == status
    assert info.value.code == ("unauthorized" if status == 401 else "forbidden")
    assert isinstance(info.value, TradPalError)
    return info.value


def test_valid_token_returns_its_claims(issuer):
    token = issuer.sign(_claims(issuer))
    claims = verify_token(token, issuer.authorizer_config(), issuer.jwks(), now=NOW)
    assert claims == _claims(issuer)


def test_minted_token_verifies_now(issuer):
    claims = verify_token(issuer.mint(["read"]), issuer.authorizer_config(), issuer.jwks())
    assert claims["scope"] == "read" and claims["sub"] == "local-user"
    assert claims["exp"] - claims["iat"] == 3600


def test_every_attack_token_is_refused(issuer, other):
    for name, token in refused_tokens(issuer, other).items():
        with pytest.raises(AuthError) as info:
            verify_token(token, issuer.authorizer_config(), issuer.jwks())
        assert info.value.status == 401, name


def test_expired_and_leeway(issuer):
    _refused(issuer.sign(_claims(issuer, exp=int(NOW) - 60)), issuer, match="expired")
    # exp is exclusive: at exp + leeway the token is dead, just before it still lives.
    exp = int(NOW) - 1
    token = issuer.sign(_claims(issuer, exp=exp))
    cfg = issuer.authorizer_config()
    assert verify_token(token, cfg, issuer.jwks(), now=exp + LEEWAY_S - 0.5)["exp"] == exp
    with pytest.raises(AuthError, match="expired"):
        verify_token(token, cfg, issuer.jwks(), now=exp + LEEWAY_S)


@pytest.mark.parametrize("exp", [None, "1900000000", True, float("nan")])
def test_exp_is_required_and_numeric(issuer, exp):
    _refused(issuer.sign(_claims(issuer, exp=exp)), issuer, match="exp")


def test_not_yet_valid(issuer):
    _refused(issuer.sign(_claims(issuer, nbf=int(NOW) + 60)), issuer, match="not valid yet")
    _refused(issuer.sign(_claims(issuer, iat=int(NOW) + 60)), issuer, match="future")
    _refused(issuer.sign(_claims(issuer, nbf="soon")), issuer, match="nbf")
    # Minted for later: both nbf and iat are in the future.
    _refused(issuer.mint(["read"], now=NOW + 3600), issuer, match="not valid yet")


def test_wrong_issuer(issuer):
    err = _refused(issuer.sign(_claims(issuer, iss="https://evil.example")), issuer, match="issuer")
    assert issuer.issuer in err.hint
    _refused(issuer.sign(_claims(issuer, iss=issuer.issuer + "/")), issuer, match="issuer")
    _refused(issuer.sign(_claims(issuer, iss=None)), issuer, match="issuer")


def test_wrong_audience(issuer):
    _refused(issuer.sign(_claims(issuer, aud="someone-else")), issuer, match="audience")
    _refused(issuer.sign(_claims(issuer, aud=["a", "b"])), issuer, match="audience")
    _refused(issuer.sign(_claims(issuer, aud=None)), issuer, match="audience")
    ok = issuer.sign(_claims(issuer, aud=["x", issuer.audience]))
    assert verify_token(ok, issuer.authorizer_config(), issuer.jwks(), now=NOW)


def test_client_id_counts_only_without_aud(issuer):
    cfg = AuthorizerConfig(issuer.issuer, ("client-123",), "tradpal/")
    cognito = issuer.sign(_claims(issuer, aud=None, client_id="client-123"))
    assert verify_token(cognito, cfg, issuer.jwks(), now=NOW)["client_id"] == "client-123"
    # Both present: aud decides, as in API Gateway.
    both = issuer.sign(_claims(issuer, aud="other", client_id="client-123"))
    _refused(both, issuer, config=cfg, match="audience")


def test_tampered_payload(issuer):
    header, _payload, sig = issuer.sign(_claims(issuer, scope="read")).split(".")
    payload = b64url(json.dumps(_claims(issuer, scope="admin")).encode())
    _refused(f"{header}.{payload}.{sig}", issuer, match="signature")
    _refused(f"{header}.{b64url(b'{}')}.{sig}", issuer, match="signature")


def test_token_from_another_key(issuer, other):
    assert other.kid != issuer.kid
    _refused(other.sign(_claims(issuer)), issuer, match="no key with kid")
    # Another key that claims this issuer's kid: the signature fails.
    forged = other.sign(_claims(issuer), headers={"kid": issuer.kid})
    _refused(forged, issuer, match="signature")


def test_alg_none_refused(issuer):
    header = {"alg": "none", "kid": issuer.kid, "typ": "JWT"}
    payload = _claims(issuer)
    unsigned = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}."
    _refused(unsigned, issuer, match="algorithm")
    for alg in ("None", "NONE", "RS384", "ES256", "PS256", ""):
        token = f"{b64url(json.dumps({**header, 'alg': alg}).encode())}.{unsigned.split('.')[1]}.x"
        _refused(token, issuer, match="algorithm")


def test_hs256_signed_with_the_public_key_refused(issuer):
    """The key-confusion attack: HMAC keyed with the public key a verifier might reuse."""
    public_jwk = issuer.jwks()["keys"][0]
    pem = public_pem(public_jwk)
    header = {"alg": "HS256", "kid": issuer.kid, "typ": "JWT"}
    for secret in (pem, pem.strip(), json.dumps(public_jwk).encode(), public_jwk["n"].encode()):
        _refused(hs256(header, _claims(issuer), secret), issuer, match="algorithm")


def test_kid_must_name_an_rs256_signing_key(issuer):
    claims = _claims(issuer)
    key = serialization.load_pem_private_key(
        (issuer.directory / "private_key.pem").read_bytes(), password=None
    )
    for header in ({"alg": "RS256"}, {"alg": "RS256", "kid": 7}, {"alg": "RS256", "kid": ""}):
        signing_input = unsigned(header, claims)[:-1]
        sig = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        _refused(f"{signing_input}.{b64url(sig)}", issuer, match="no kid")
    jwk = issuer.jwks()["keys"][0]
    token = issuer.sign(claims)
    for bad in ({"use": "enc"}, {"alg": "RS512"}, {"kty": "EC"}, {"n": 5}):
        _refused(token, issuer, jwks={"keys": [{**jwk, **bad}]}, match="not an RS256")
    _refused(token, issuer, jwks={"keys": []}, match="no key")
    _refused(token, issuer, jwks={}, match="no key")


@pytest.mark.parametrize(
    "token",
    ["", "abc", "a.b", "a.b.c", "a.b.c.d", "!!!.@@@.###", "e30.e30.", "W10.e30.", "e30.W10.x"],
)
def test_malformed_tokens(issuer, token):
    _refused(token, issuer)


def test_payload_must_be_an_object(issuer):
    header = b64url(json.dumps({"alg": "RS256", "kid": issuer.kid}).encode())
    _refused(f"{header}.{b64url(b'[1, 2]')}.{b64url(b'sig')}", issuer)


@settings(max_examples=150, deadline=None, suppress_health_check=_FIXTURE)
@given(
    st.one_of(
        st.text(max_size=300),
        st.lists(st.text(alphabet="ABCDEFabcdef0123456789-_=", max_size=60), min_size=3,
                 max_size=3).map(".".join),
        st.binary(max_size=200).map(lambda b: ".".join(b64url(b[i::3]) for i in range(3))),
    )
)  # fmt: skip
def test_garbage_is_never_accepted(issuer, token):
    with pytest.raises(AuthError) as info:
        verify_token(token, issuer.authorizer_config(), issuer.jwks(), now=NOW)
    assert info.value.status == 401


@settings(max_examples=60, deadline=None, suppress_health_check=_FIXTURE)
@given(st.integers(min_value=0, max_value=10_000), st.binary(min_size=1, max_size=4))
def test_any_bit_flip_in_a_valid_token_is_refused(issuer, position, junk):
    token = issuer.sign(_claims(issuer))
    i = position % len(token)
    replacement = b64url(junk)[0]
    if replacement == token[i]:
        return
    flipped = token[:i] + replacement + token[i + 1 :]
    try:
        claims = verify_token(flipped, issuer.authorizer_config(), issuer.jwks(), now=NOW)
    except AuthError:
        return
    # A part's last base64url character can carry unused bits: only a flip that decodes to
    # the very same bytes may pass.
    assert claims == _claims(issuer)
    for a, b in zip(flipped.split("."), token.split("."), strict=True):
        assert base64.urlsafe_b64decode(a + "==") == base64.urlsafe_b64decode(b + "==")


@pytest.mark.parametrize(
    ("value", "expected"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc.def.ghi ", "abc.def.ghi"),
     ("abc.def.ghi", "abc.def.ghi"), ("BEARER x", "x")],
)  # fmt: skip
def test_bearer_token_accepts_what_api_gateway_accepts(value, expected):
    assert bearer_token(value) == expected


@pytest.mark.parametrize(
    "value", [None, "", "   ", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer a b", "a\tb"]
)
def test_bearer_token_refuses_missing_and_malformed(value):
    with pytest.raises(AuthError) as info:
        token = bearer_token(value)
        verify_token(token, AuthorizerConfig("i", ("a",)), {"keys": []})
    assert info.value.status == 401
    assert "Authorization" in str(info.value) or "JWT" in str(info.value)


def test_token_scopes():
    assert token_scopes({"scope": "read  trade\tadmin"}) == {"read", "trade", "admin"}
    assert token_scopes({"scp": ["read", "trade", 3]}) == {"read", "trade"}
    assert token_scopes({"scp": "read trade"}) == {"read", "trade"}
    assert token_scopes({"scope": "", "scp": ["read"]}) == frozenset()
    assert token_scopes({}) == frozenset()


def test_authorize_needs_one_of_the_route_scopes():
    plain = AuthorizerConfig("i", ("a",))
    authorize({"scope": "read"}, ("read",), plain)
    authorize({"scope": "trade"}, ("read", "trade"), plain)
    authorize({}, (), plain)  # a route without scopes admits any valid token
    with pytest.raises(AuthError) as info:
        authorize({"scope": "read"}, ("trade",), plain)
    assert info.value.status == 403 and info.value.code == "forbidden"
    assert "trade" in info.value.hint
    assert 'error="insufficient_scope"' in info.value.www_authenticate


def test_authorize_with_cognito_prefix():
    cognito = AuthorizerConfig("i", ("client",), scope_prefix="tradpal/")
    authorize({"scope": "openid tradpal/read"}, ("read",), cognito)
    for scopes in ("read", "tradpal/trade", "tradpalread", "other/read"):
        with pytest.raises(AuthError) as info:
            authorize({"scope": scopes}, ("read",), cognito)
        assert info.value.status == 403
    assert cognito.route_scopes(("read", "admin")) == ("tradpal/read", "tradpal/admin")


def test_www_authenticate_cannot_be_broken_out_of():
    err = AuthError('bad "kid"\r\nX-Evil: 1 \\')
    header = err.www_authenticate
    assert "\r" not in header and "\n" not in header
    assert header.startswith('Bearer scope="" error="invalid_token" error_description="')
    assert header.count('"') == 6


def test_authorizer_config_validation():
    assert AuthorizerConfig("i", "aud").audiences == ("aud",)
    assert AuthorizerConfig("i", ["a", "b"]).audiences == ("a", "b")
    for issuer, audiences in (("", ("a",)), ("i", ()), ("i", ("",))):
        with pytest.raises(ConfigError):
            AuthorizerConfig(issuer, audiences)
    with pytest.raises(ValueError):
        AuthError("x", status=500)


def test_verify_uses_the_current_time_by_default(issuer):
    late = issuer.sign(_claims(issuer, iat=int(time.time()) - 100, exp=int(time.time()) - 50))
    with pytest.raises(AuthError, match="expired"):
        verify_token(late, issuer.authorizer_config(), issuer.jwks())
