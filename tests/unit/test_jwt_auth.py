"""JWT mode without HTTP: the bearer header, the roles claim, the descriptions of refusals,
and verification against keys held in memory."""

import time
from typing import Any

import jwt
import pytest
from jwt.exceptions import InvalidSubjectError

from tagfeed.api.problems import status_for
from tagfeed.auth.errors import AuthError
from tagfeed.auth.jwt_auth import (
    MAX_TOKEN_LENGTH,
    JwtAuthenticator,
    bearer_token,
    describe,
    roles_of,
)
from tagfeed.auth.jwt_keys import HS256, KeyRing, VerificationKey, secret_keys

SECRET = "unit-test-secret-that-is-long-enough"


def refusal(call: Any, *args: Any) -> AuthError:
    with pytest.raises(AuthError) as refused:
        call(*args)
    assert status_for(refused.value) == 401
    return refused.value


@pytest.mark.parametrize(
    ("header", "token"),
    [("Bearer abc.def.ghi", "abc.def.ghi"), ("bearer  abc ", "abc"), ("BEARER abc", "abc")],
)
def test_bearer_token(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer  ", "Basic dXNlcjpwYXNz", "abc"])
def test_no_bearer_token_is_a_bare_challenge(header: str | None) -> None:
    refused = refusal(bearer_token, header)
    assert refused.headers == {"WWW-Authenticate": "Bearer"}
    assert "Bearer <token>" in refused.detail


def test_an_oversized_token_is_refused_before_parsing() -> None:
    refused = refusal(bearer_token, "Bearer " + "x" * (MAX_TOKEN_LENGTH + 1))
    assert refused.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    assert bearer_token("Bearer " + "x" * MAX_TOKEN_LENGTH) == "x" * MAX_TOKEN_LENGTH


@pytest.mark.parametrize(
    ("claims", "roles"),
    [
        ({}, set()),
        ({"roles": None}, set()),
        ({"roles": []}, set()),
        ({"roles": ["admin", "reader"]}, {"admin", "reader"}),
        ({"roles": "admin  reader"}, {"admin", "reader"}),
        ({"roles": ""}, set()),
    ],
)
def test_roles_of(claims: dict[str, Any], roles: set[str]) -> None:
    assert roles_of(claims) == roles


@pytest.mark.parametrize("roles", [5, {"admin": True}, ["admin", 1], [None]])
def test_roles_of_refuses_other_shapes(roles: object) -> None:
    assert "roles claim" in refusal(roles_of, {"roles": roles}).detail


@pytest.mark.parametrize(
    ("exc", "description"),
    [
        (jwt.ExpiredSignatureError("x"), "the token has expired"),
        (jwt.ImmatureSignatureError("x"), "the token is not valid yet"),
        (jwt.InvalidIssuerError("x"), "the token has the wrong issuer"),
        (jwt.InvalidAudienceError("x"), "the token is meant for another audience"),
        (jwt.InvalidSignatureError("x"), "the token signature does not verify"),
        (jwt.InvalidAlgorithmError("x"), "the token algorithm is not accepted"),
        (jwt.DecodeError("Invalid header string: 'secret'"), "the token is malformed"),
        (jwt.MissingRequiredClaimError("exp"), "the token has no exp claim"),
        (InvalidSubjectError("x"), "the token sub must be a string"),
        (jwt.InvalidKeyError("x"), "the token is invalid"),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else "",
)
def test_describe_never_repeats_what_pyjwt_said(exc: jwt.PyJWTError, description: str) -> None:
    assert describe(exc) == description
    assert '"' not in description
    assert "\\" not in description


def test_verify_checks_the_key_algorithm_and_claims() -> None:
    authenticator = JwtAuthenticator(secret_keys(SECRET), issuer="me", leeway_seconds=0)
    now = int(time.time())
    good = {"sub": "alice", "iss": "me", "exp": now + 60}
    assert authenticator.verify(jwt.encode(good, SECRET, algorithm="HS256")) == good
    expired = jwt.encode({**good, "exp": now - 1}, SECRET, algorithm="HS256")
    assert refusal(authenticator.verify, expired).detail == "the token has expired"
    hs384 = jwt.encode(good, SECRET + "x" * 20, algorithm="HS384")
    assert "algorithm" in refusal(authenticator.verify, hs384).detail


def test_a_keyring_by_kid_needs_a_kid() -> None:
    ring = KeyRing(by_kid={"k1": VerificationKey(SECRET.encode(), HS256)})
    authenticator = JwtAuthenticator(ring)
    payload = {"sub": "alice", "exp": int(time.time()) + 60}
    with_kid = jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": "k1"})
    assert authenticator.verify(with_kid)["sub"] == "alice"
    without = jwt.encode(payload, SECRET, algorithm="HS256")
    assert refusal(authenticator.verify, without).detail == "the token has no kid"
    other = jwt.encode(payload, SECRET, algorithm="HS256", headers={"kid": "k2"})
    assert refusal(authenticator.verify, other).detail == "the token kid is unknown"
