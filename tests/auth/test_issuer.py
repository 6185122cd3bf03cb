"""LocalIssuer: the key is created once and reused (tokens survive a restart), kept private,
named by its RFC 7638 thumbprint, and `tradpal token` mints tokens the platform accepts."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradpal.auth.issuer import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    LocalIssuer,
    jwk_thumbprint,
)
from tradpal.auth.jwt import AuthError, AuthorizerConfig, authorize, token_scopes, verify_token
from tradpal.cli.main import app, run
from tradpal.errors import ConfigError

PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> LocalIssuer:
    return LocalIssuer.load_or_create(tmp_path_factory.mktemp("issuer"))


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_rfc7638_thumbprint_example():
    """The worked example of RFC 7638, section 3.1."""
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6"
        "tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65Y"
        "GjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-b"
        "FTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jwk_thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_key_created_private_and_reused(tmp_path):
    folder = tmp_path / "issuer"
    first = LocalIssuer.load_or_create(folder)
    key = folder / "private_key.pem"
    assert _mode(key) == 0o600 and _mode(folder) == 0o700
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    meta = json.loads((folder / "issuer.json").read_text())
    assert meta == {
        "issuer": DEFAULT_ISSUER,
        "audience": DEFAULT_AUDIENCE,
        "scope_prefix": "",
        "kid": first.kid,
    }
    token = first.mint(["read"])
    before = key.read_bytes()
    # A restart: a new process loads the same key, and old tokens still verify.
    again = LocalIssuer.load_or_create(folder)
    assert key.read_bytes() == before
    assert again.kid == first.kid and again.jwks() == first.jwks()
    assert verify_token(token, again.authorizer_config(), again.jwks())["scope"] == "read"
    assert sorted(p.name for p in folder.iterdir()) == ["issuer.json", "private_key.pem"]


def test_jwks_is_public_only_and_kid_is_the_thumbprint(shared):
    (jwk,) = shared.jwks()["keys"]
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    assert not PRIVATE_MEMBERS & set(jwk)
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["e"]) == ("RSA", "sig", "RS256", "AQAB")
    assert jwk["kid"] == shared.kid == jwk_thumbprint(jwk)
    assert "PRIVATE" not in repr(shared) and shared.kid in repr(shared)
    # The returned set is a copy: callers cannot change the issuer's key.
    shared.jwks()["keys"][0]["n"] = "x"
    assert shared.jwks()["keys"][0]["n"] == jwk["n"]


def test_stored_settings_are_what_another_process_mints_with(tmp_path):
    platform = LocalIssuer.load_or_create(
        tmp_path, "https://issuer.example/x", "aud-2", scope_prefix="tradpal/"
    )
    cli = LocalIssuer.load_or_create(tmp_path)  # what `tradpal token` does
    stored = (cli.issuer, cli.audience, cli.scope_prefix)
    assert stored == ("https://issuer.example/x", "aud-2", "tradpal/")
    claims = verify_token(cli.mint(["trade"]), platform.authorizer_config(), platform.jwks())
    assert claims["scope"] == "tradpal/trade"
    assert platform.authorizer_config() == AuthorizerConfig(
        "https://issuer.example/x", ("aud-2",), "tradpal/"
    )
    authorize(claims, ("trade",), platform.authorizer_config())


def test_default_directory_is_under_tradpal_home(_isolated_home):
    issuer = LocalIssuer.load_or_create()
    assert issuer.directory == _isolated_home / "platform" / "issuer"
    assert (issuer.directory / "private_key.pem").is_file()


def test_loose_key_file_mode_is_tightened(tmp_path, caplog):
    kid = LocalIssuer.load_or_create(tmp_path).kid
    (tmp_path / "private_key.pem").chmod(0o644)
    assert LocalIssuer.load_or_create(tmp_path).kid == kid
    assert _mode(tmp_path / "private_key.pem") == 0o600
    assert "mode 644" in caplog.text


def test_unreadable_files_are_clear_errors(tmp_path):
    (tmp_path / "private_key.pem").write_bytes(b"not a key")
    (tmp_path / "private_key.pem").chmod(0o600)
    with pytest.raises(ConfigError, match="cannot be read") as info:
        LocalIssuer.load_or_create(tmp_path)
    assert "delete" in info.value.hint
    other = tmp_path / "other"
    LocalIssuer.load_or_create(other)
    (other / "issuer.json").write_text("{")
    with pytest.raises(ConfigError, match="not valid JSON"):
        LocalIssuer.load_or_create(other)


def test_concurrent_first_use_ends_with_one_key(tmp_path):
    barrier, kids = threading.Barrier(4), []

    def load() -> None:
        barrier.wait()
        kids.append(LocalIssuer.load_or_create(tmp_path).kid)

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(kids) == 4 and len(set(kids)) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["issuer.json", "private_key.pem"]


def test_mint_claims(shared):
    token = shared.mint(["read", "trade", "read"], ttl_s=120, subject="alice", now=1_800_000_000.7)
    claims = verify_token(token, shared.authorizer_config(), shared.jwks(), now=1_800_000_001)
    assert claims["iat"] == claims["nbf"] == 1_800_000_000
    assert claims["exp"] == 1_800_000_120
    assert (claims["sub"], claims["iss"]) == ("alice", DEFAULT_ISSUER)
    assert claims["aud"] == DEFAULT_AUDIENCE
    assert claims["scope"] == "read trade"
    assert token_scopes(claims) == {"read", "trade"}
    assert shared.mint(["read"], now=1.0) != shared.mint(["read"], now=1.0)  # unique jti
    extra = shared.mint(["admin"], extra_claims={"email": "a@b.c"})
    assert verify_token(extra, shared.authorizer_config(), shared.jwks())["email"] == "a@b.c"


@pytest.mark.parametrize(
    ("scopes", "kw", "match"),
    [
        (["read", "write"], {}, "unknown or missing scopes \\['write'\\]"),
        ([], {}, "unknown or missing scopes"),
        (["tradpal/read"], {}, "unknown"),
        (["read"], {"ttl_s": 0}, "lifetime"),
        (["read"], {"ttl_s": 31 * 86_400}, "lifetime"),
        (["read"], {"ttl_s": True}, "lifetime"),
        (["read"], {"subject": " "}, "subject"),
    ],
)
def test_mint_refuses_bad_requests(shared, scopes, kw, match):
    with pytest.raises(ConfigError, match=match) as info:
        shared.mint(scopes, **kw)
    assert info.value.hint


def test_openid_configuration(shared):
    doc = shared.openid_configuration("http://127.0.0.1:8787/")
    assert doc["issuer"] == DEFAULT_ISSUER
    assert doc["jwks_uri"] == "http://127.0.0.1:8787/.well-known/jwks.json"
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert doc["scopes_supported"] == ["read", "trade", "admin"]


def test_tradpal_token_prints_a_token_the_platform_accepts(_isolated_home):
    result = CliRunner().invoke(
        app, ["token", "--scope", "read, trade", "--ttl", "600", "--subject", "bob"]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip()
    assert token.count(".") == 2 and "\n" not in token
    platform = LocalIssuer.load_or_create(_isolated_home / "platform" / "issuer")
    claims = verify_token(token, platform.authorizer_config(), platform.jwks())
    assert token_scopes(claims) == {"read", "trade"}
    assert claims["sub"] == "bob" and claims["exp"] - claims["iat"] == 600
    authorize(claims, ("trade",), platform.authorizer_config())
    with pytest.raises(AuthError):
        authorize(claims, ("admin",), platform.authorizer_config())
    default = CliRunner().invoke(app, ["token"])
    assert default.exit_code == 0
    assert verify_token(default.output.strip(), platform.authorizer_config(), platform.jwks())


def test_tradpal_token_unknown_scope_is_a_clear_error(capsys):
    assert run(["token", "--scope", "read,bogus"]) == 2
    err = capsys.readouterr().err
    assert "unknown or missing scopes ['bogus']" in err and "read, trade, admin" in err
    assert run(["token", "--scope", "read", "--ttl", "0"]) == 2
    assert "lifetime" in capsys.readouterr().err
