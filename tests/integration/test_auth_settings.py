"""Authentication settings and key files: what start-up accepts, and what it refuses
naming the variable. Keys are made on the spot and written to temporary files."""

import json
from ipaddress import ip_network
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tagfeed.auth.jwt_keys import ES256, HS256, RS256, jwks_keys, pem_keys
from tagfeed.config import Settings, SettingsError, load_settings
from tests.integration.tokens import (
    SECRET,
    ec_key,
    public_jwk,
    rsa_key,
    write_jwks,
    write_pem,
)


def refusal(**settings: object) -> str:
    with pytest.raises(SettingsError) as refused:
        load_settings(**settings)
    return str(refused.value)


def test_gateway_mode_is_the_default_and_trusts_every_peer() -> None:
    settings = load_settings()
    assert settings.auth_mode == "gateway"
    assert settings.trusted_proxies == ()
    assert settings.count_role is None
    with pytest.raises(ValueError, match="not jwt"):
        _ = settings.jwt_keys


def test_trusted_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFEED_TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.7 ,2001:db8::/32,::1,")
    assert load_settings().trusted_proxies == tuple(
        ip_network(n) for n in ("10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32", "::1/128")
    )
    monkeypatch.setenv("TAGFEED_TRUSTED_PROXIES", "")
    assert load_settings().trusted_proxies == ()


@pytest.mark.parametrize(
    ("value", "mentions"),
    [("10.0.0.5/8", "host bits set"), ("gateway.internal", "does not appear"), ("::1/129", "")],
)
def test_bad_trusted_proxies_name_the_variable(value: str, mentions: str) -> None:
    message = refusal(trusted_proxies=value)
    assert message.startswith("TAGFEED_TRUSTED_PROXIES: ")
    assert mentions in message


def test_jwt_mode_needs_exactly_one_key_source(tmp_path: Path) -> None:
    message = refusal(auth_mode="jwt")
    assert "TAGFEED_AUTH_MODE=jwt needs exactly one of TAGFEED_JWT_SECRET" in message
    assert "TAGFEED_JWT_JWKS_FILE" in message
    pem = write_pem(tmp_path / "key.pem", rsa_key())
    both = refusal(auth_mode="jwt", jwt_secret=SECRET, jwt_public_key_file=str(pem))
    assert "got TAGFEED_JWT_SECRET, TAGFEED_JWT_PUBLIC_KEY_FILE" in both


def test_jwt_mode_with_empty_variables_has_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFEED_AUTH_MODE", "jwt")
    monkeypatch.setenv("TAGFEED_JWT_SECRET", "")
    monkeypatch.setenv("TAGFEED_JWT_JWKS_FILE", "")
    assert "needs exactly one of" in refusal()


def test_jwt_settings_in_gateway_mode_are_refused() -> None:
    # Whoever set them believes tokens are checked; in gateway mode none are.
    message = refusal(jwt_secret=SECRET, jwt_audience="x")
    assert (
        "TAGFEED_JWT_SECRET, TAGFEED_JWT_AUDIENCE set, but TAGFEED_AUTH_MODE is gateway" in message
    )


def test_a_short_secret_is_refused_without_showing_it() -> None:
    short = "s3cr3t-but-only-31-bytes-long!!"
    message = refusal(auth_mode="jwt", jwt_secret=short)
    assert message.startswith("TAGFEED_JWT_SECRET: must be at least 32 bytes, got 31")
    assert short not in message
    settings = load_settings(auth_mode="jwt", jwt_secret=short + "!")
    assert settings.jwt_keys.key_for(None) is not None
    assert short not in repr(settings)
    assert short not in repr(settings.jwt_keys)


def test_a_secret_verifies_hs256_only() -> None:
    settings = Settings(auth_mode="jwt", jwt_secret=SECRET)
    key = settings.jwt_keys.key_for("any kid")
    assert key is not None
    assert key.algorithm == HS256


def test_pem_keys_fix_the_algorithm(tmp_path: Path) -> None:
    rsa_pem = write_pem(tmp_path / "rsa.pem", rsa_key())
    ec_pem = write_pem(tmp_path / "ec.pem", ec_key())
    for path, algorithm in ((rsa_pem, RS256), (ec_pem, ES256)):
        key = pem_keys(path).key_for(None)
        assert key is not None
        assert key.algorithm == algorithm
    settings = load_settings(auth_mode="jwt", jwt_public_key_file=str(rsa_pem))
    assert settings.jwt_keys.key_for("whatever") == pem_keys(rsa_pem).key_for(None)


@pytest.mark.parametrize(
    ("content", "mentions"),
    [
        (None, "cannot read"),
        (b"not a key", "holds no PEM public key"),
        ("p384", "only RSA (RS256) and P-256 (ES256)"),
        ("rsa1024", "at least 2048 bits, got 1024"),
    ],
)
def test_unusable_pem_files_are_refused(
    tmp_path: Path, content: bytes | str | None, mentions: str
) -> None:
    path = tmp_path / "key.pem"
    if content == "p384":
        write_pem(path, ec_key(ec.SECP384R1()))
    elif content == "rsa1024":
        write_pem(path, rsa_key(1024))
    elif isinstance(content, bytes):
        path.write_bytes(content)
    message = refusal(auth_mode="jwt", jwt_public_key_file=str(path))
    assert message.startswith("TAGFEED_JWT_PUBLIC_KEY_FILE: ")
    assert mentions in message


def test_jwks_keeps_the_usable_signing_keys(tmp_path: Path) -> None:
    rsa_private, ec_private = rsa_key(), ec_key()
    path = write_jwks(
        tmp_path / "jwks.json",
        public_jwk(rsa_private, "rsa", alg="RS256"),
        public_jwk(ec_private, "ec", use="sig"),
        public_jwk(rsa_key(), "enc", use="enc"),
        public_jwk(rsa_key(), "ps", alg="PS256"),
        public_jwk(ec_key(ec.SECP384R1()), "p384"),
        {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        {k: v for k, v in public_jwk(rsa_private, "no-kid").items() if k != "kid"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        "not an object",
    )
    ring = jwks_keys(path)
    assert set(ring.by_kid) == {"rsa", "ec"}
    assert ring.by_kid["rsa"].algorithm == RS256
    assert ring.by_kid["ec"].algorithm == ES256
    assert ring.key_for("hmac") is None
    assert ring.key_for(None) is None


@pytest.mark.parametrize(
    ("document", "mentions"),
    [
        ("{", "is not JSON"),
        ("[]", "is not a JWK set"),
        ('{"keys": {}}', "is not a JWK set"),
        ('{"keys": []}', "no usable signing key"),
    ],
)
def test_unusable_jwks_files_are_refused(tmp_path: Path, document: str, mentions: str) -> None:
    path = tmp_path / "jwks.json"
    path.write_text(document)
    message = refusal(auth_mode="jwt", jwt_jwks_file=str(path))
    assert message.startswith("TAGFEED_JWT_JWKS_FILE: ")
    assert mentions in message


def test_a_private_key_in_the_jwks_is_refused(tmp_path: Path) -> None:
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key()))
    path = write_jwks(tmp_path / "jwks.json", {**private, "kid": "oops"})
    message = refusal(auth_mode="jwt", jwt_jwks_file=str(path))
    assert "key 'oops' is a private key" in message


@pytest.mark.parametrize("role", ["a b", "a,b", "x" * 129])
def test_count_role_must_be_one_role(role: str) -> None:
    assert refusal(count_role=role).startswith("TAGFEED_COUNT_ROLE: ")


def test_count_role_empty_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAGFEED_COUNT_ROLE", "")
    assert load_settings().count_role is None
    monkeypatch.setenv("TAGFEED_COUNT_ROLE", "admin")
    assert load_settings().count_role == "admin"


@pytest.mark.parametrize("leeway", [-1, 301])
def test_leeway_is_bounded(leeway: int) -> None:
    assert "TAGFEED_JWT_LEEWAY_SECONDS" in refusal(jwt_leeway_seconds=leeway)
