"""Authentication and authorization through the app: trusted-gateway mode with and without
trusted proxies, JWT mode (HS256 secret, RS256 PEM, JWKS by kid), and the count role."""

import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tagfeed.api.app import create_app
from tagfeed.config import load_settings
from tagfeed.store.port import Store
from tests.integration.helpers import assert_problem
from tests.integration.tokens import (
    AUDIENCE,
    ISSUER,
    SECRET,
    claims,
    ec_key,
    forged,
    hs256,
    public_jwk,
    public_pem,
    rsa_key,
    signed,
    write_jwks,
    write_pem,
)

Client = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
GATEWAY = ("10.0.0.5", 1234)
STRANGER = ("203.0.113.9", 4321)
NEW = {"text": "hello", "tag": "auth"}


@pytest.fixture
def app_client(database_url: str, store: Store) -> Client:
    """Opens a client to an app with these settings, seen from ``peer``."""

    @asynccontextmanager
    async def open_client(
        peer: tuple[str, int] = GATEWAY, **settings: Any
    ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            load_settings(database_url=database_url, db_timeout=5.0, **settings), store
        )
        transport = httpx.ASGITransport(app=app, client=peer)
        async with httpx.AsyncClient(transport=transport, base_url="http://tagfeed.test") as http:
            yield http

    return open_client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_unauthenticated(response: httpx.Response, mentions: str, *, token_sent: bool) -> None:
    """401 problem+json with the RFC 6750 challenge; error codes only when a token was sent."""
    assert_problem(response, 401, mentions)
    challenge = response.headers["www-authenticate"]
    if token_sent:
        detail = response.json()["detail"]
        assert challenge == f'Bearer error="invalid_token", error_description="{detail}"'
    else:
        assert challenge == "Bearer"


# --- trusted-gateway mode ---------------------------------------------------------------


async def test_gateway_mode_without_a_proxy_list_trusts_every_peer(app_client: Client) -> None:
    async with app_client(STRANGER) as http:
        created = await http.post("/v1/messages", json=NEW, headers={"X-User-ID": "42"})
        assert created.status_code == 201, created.text
        assert created.json()["user_id"] == "42"
        assert_problem(await http.get("/v1/messages"), 403, "X-User-ID header is required")
        bad = await http.get("/v1/messages", headers={"X-User-ID": "has space"})
        assert_problem(bad, 403, "X-User-ID must be")
        assert "www-authenticate" not in bad.headers


@pytest.mark.parametrize(
    "peer", [GATEWAY, ("10.255.0.1", 1), ("2001:db8::7", 1), ("::ffff:10.1.2.3", 1)]
)
async def test_gateway_mode_believes_trusted_proxies(
    app_client: Client, peer: tuple[str, int]
) -> None:
    async with app_client(peer, trusted_proxies="10.0.0.0/8, 2001:db8::/32") as http:
        created = await http.post("/v1/messages", json=NEW, headers={"X-User-ID": "7"})
        assert created.status_code == 201, created.text
        assert created.json()["user_id"] == "7"


@pytest.mark.parametrize("peer", [STRANGER, ("2001:db9::7", 1), ("::ffff:11.0.0.1", 1)])
@pytest.mark.parametrize("headers", [{"X-User-ID": "7"}, {}])
async def test_gateway_mode_refuses_other_peers_with_or_without_a_user(
    app_client: Client, peer: tuple[str, int], headers: dict[str, str]
) -> None:
    async with app_client(peer, trusted_proxies="10.0.0.0/8, 2001:db8::/32") as http:
        response = await http.post("/v1/messages", json=NEW, headers=headers)
        assert_problem(response, 403, f"the peer {peer[0]} is not a trusted proxy")
        assert_problem(await http.get("/v1/messages", headers=headers), 403, "trusted proxy")


async def test_operations_endpoints_stay_open_to_untrusted_peers(app_client: Client) -> None:
    async with app_client(STRANGER, trusted_proxies="10.0.0.0/8") as http:
        for path in ("/healthz", "/readyz", "/openapi.json"):
            assert (await http.get(path)).status_code == 200, path


async def test_a_repeated_identity_header_is_refused(app_client: Client) -> None:
    # A gateway that appends its header instead of replacing the client's leaves two.
    async with app_client() as http:
        twice = [("X-User-ID", "mallory"), ("X-User-ID", "alice")]
        assert_problem(await http.get("/v1/messages", headers=twice), 403, "sent once")
        roles = [("X-User-ID", "alice"), ("X-User-Roles", "admin"), ("X-User-Roles", "x")]
        assert_problem(await http.get("/v1/messages", headers=roles), 403, "sent once")


# --- JWT mode, HS256 ----------------------------------------------------------------------

JWT = {
    "auth_mode": "jwt",
    "jwt_secret": SECRET,
    "jwt_issuer": ISSUER,
    "jwt_audience": AUDIENCE,
}


async def test_jwt_mode_accepts_a_good_token_and_ignores_x_user_id(app_client: Client) -> None:
    async with app_client(STRANGER, **JWT) as http:
        headers = {**bearer(hs256(claims())), "X-User-ID": "mallory"}
        created = await http.post("/v1/messages", json=NEW, headers=headers)
        assert created.status_code == 201, created.text
        assert created.json()["user_id"] == "auth0|alice"
        location = created.headers["location"]
        assert (await http.get(location, headers=headers)).json()["user_id"] == "auth0|alice"
        only_header = await http.get(location, headers={"X-User-ID": "alice"})
        assert_unauthenticated(only_header, "Authorization", token_sent=False)


async def test_jwt_mode_needs_a_bearer_token(app_client: Client) -> None:
    async with app_client(**JWT) as http:
        assert_unauthenticated(await http.get("/v1/messages"), "Bearer", token_sent=False)
        for value in (f"Basic {SECRET}", "Bearer", "Bearer   "):
            response = await http.get("/v1/messages", headers={"Authorization": value})
            assert_unauthenticated(response, "Bearer <token>", token_sent=False)
        lower = await http.get(
            "/v1/messages", headers={"Authorization": "bearer " + hs256(claims())}
        )
        assert lower.status_code == 200, lower.text


def _later(seconds: int) -> int:
    return int(time.time()) + seconds


# Tokens are made when the test runs (not at collection), so none expires by waiting.
BAD_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: hs256(claims(exp=_later(-120))), "expired"),
    "not-before": (lambda: hs256(claims(nbf=_later(120))), "not valid yet"),
    "issued-in-future": (lambda: hs256(claims(iat=_later(120))), "not valid yet"),
    "wrong-issuer": (lambda: hs256(claims(iss="https://other.test/")), "wrong issuer"),
    "no-issuer": (lambda: hs256(claims(iss=None)), "no iss claim"),
    "wrong-audience": (lambda: hs256(claims(aud="someone-else")), "another audience"),
    "no-audience": (lambda: hs256(claims(aud=None)), "no aud claim"),
    "wrong-signature": (
        lambda: hs256(claims(), secret="another-secret-that-is-long-enough-too!"),
        "signature",
    ),
    "alg-none": (lambda: forged(claims(), "none", None), "algorithm is not accepted"),
    "alg-other-hmac": (lambda: forged(claims(), "HS512", None), "algorithm is not accepted"),
    "garbage": (lambda: "not-a-jwt", "malformed"),
    "garbage-segments": (lambda: "a.b.c", "malformed"),
    "no-sub": (lambda: hs256(claims(sub=None)), "no sub claim"),
    "no-exp": (lambda: hs256(claims(exp=None)), "no exp claim"),
    "empty-sub": (lambda: hs256(claims(sub="")), "sub must be"),
    "bad-sub": (lambda: hs256(claims(sub="has space")), "sub must be"),
    "long-sub": (lambda: hs256(claims(sub="x" * 129)), "sub must be"),
    "numeric-sub": (lambda: hs256(claims(sub=42)), "sub must be a string"),
    "roles-number": (lambda: hs256(claims(roles=5)), "roles claim"),
    "roles-mixed": (lambda: hs256(claims(roles=["admin", 1])), "roles claim"),
    "huge": (lambda: "x" * 9000, "longer than"),
}


@pytest.mark.parametrize("case", BAD_TOKENS)
async def test_jwt_mode_refuses_bad_tokens(app_client: Client, case: str) -> None:
    make_token, mentions = BAD_TOKENS[case]
    token = make_token()
    async with app_client(**JWT) as http:
        response = await http.post("/v1/messages", json=NEW, headers=bearer(token))
        assert_unauthenticated(response, mentions, token_sent=True)
        assert token not in response.text
        assert (await http.get("/v1/messages", headers=bearer(hs256(claims())))).json() == []


@pytest.mark.parametrize(
    ("skew", "mentions"),
    [({"exp": -10}, "expired"), ({"nbf": 10}, "not valid yet"), ({"iat": 10}, "not valid yet")],
)
async def test_jwt_mode_allows_clock_skew_within_the_leeway(
    app_client: Client, skew: dict[str, int], mentions: str
) -> None:
    skewed = hs256(claims(**{name: _later(by) for name, by in skew.items()}))
    async with app_client(**JWT) as http:
        response = await http.get("/v1/messages", headers=bearer(skewed))
        assert response.status_code == 200, response.text
    async with app_client(**JWT, jwt_leeway_seconds=0) as http:
        response = await http.get("/v1/messages", headers=bearer(skewed))
        assert_unauthenticated(response, mentions, token_sent=True)


async def test_jwt_mode_without_issuer_or_audience_settings(app_client: Client) -> None:
    async with app_client(auth_mode="jwt", jwt_secret=SECRET) as http:
        plain = claims(iss=None, aud=None)
        assert (await http.get("/v1/messages", headers=bearer(hs256(plain)))).status_code == 200
        # An audience the server was not told to expect is still refused (PyJWT's default).
        aimed = await http.get("/v1/messages", headers=bearer(hs256(claims(iss=None))))
        assert_unauthenticated(aimed, "another audience", token_sent=True)


# --- JWT mode, RS256 and ES256 --------------------------------------------------------------


async def test_rs256_with_a_pem_public_key(app_client: Client, tmp_path: Path) -> None:
    key = rsa_key()
    pem = write_pem(tmp_path / "public.pem", key)
    async with app_client(auth_mode="jwt", jwt_public_key_file=str(pem)) as http:
        good = signed(claims(aud=None, iss=None), key, "RS256")
        created = await http.post("/v1/messages", json=NEW, headers=bearer(good))
        assert created.status_code == 201, created.text
        assert created.json()["user_id"] == "auth0|alice"

        stranger = signed(claims(aud=None, iss=None), rsa_key(), "RS256")
        response = await http.get("/v1/messages", headers=bearer(stranger))
        assert_unauthenticated(response, "signature", token_sent=True)
        # The public key used as an HMAC secret: the algorithm-confusion attack.
        confused = forged(claims(aud=None, iss=None), "HS256", public_pem(key))
        response = await http.get("/v1/messages", headers=bearer(confused))
        assert_unauthenticated(response, "algorithm is not accepted", token_sent=True)
        # An HS256 token made with what would be a valid secret elsewhere.
        response = await http.get("/v1/messages", headers=bearer(hs256(claims())))
        assert_unauthenticated(response, "algorithm is not accepted", token_sent=True)


async def test_jwks_file_picks_the_key_by_kid(app_client: Client, tmp_path: Path) -> None:
    rsa_private, ec_private = rsa_key(), ec_key()
    jwks = write_jwks(
        tmp_path / "jwks.json",
        public_jwk(rsa_private, "rsa-1", use="sig", alg="RS256"),
        public_jwk(ec_private, "ec-1"),
    )
    payload = claims(aud=None, iss=None)
    async with app_client(auth_mode="jwt", jwt_jwks_file=str(jwks)) as http:
        for token in (
            signed(payload, rsa_private, "RS256", kid="rsa-1"),
            signed(payload, ec_private, "ES256", kid="ec-1"),
        ):
            response = await http.post("/v1/messages", json=NEW, headers=bearer(token))
            assert response.status_code == 201, response.text

        refusals = [
            (signed(payload, rsa_private, "RS256", kid="rsa-2"), "kid is unknown"),
            (signed(payload, rsa_private, "RS256"), "has no kid"),
            (signed(payload, rsa_private, "RS256", kid="ec-1"), "algorithm is not accepted"),
            (signed(payload, ec_key(), "ES256", kid="ec-1"), "signature"),
            (hs256(payload, kid="rsa-1"), "algorithm is not accepted"),
        ]
        for token, mentions in refusals:
            response = await http.get("/v1/messages", headers=bearer(token))
            assert_unauthenticated(response, mentions, token_sent=True)


# --- the count role -----------------------------------------------------------------------

COUNTING = [
    ("/v1/messages", {"count": "1"}),
    ("/v1/messages/counts", {}),
    ("/v1/messages/counts", {"granularity": "day"}),
]


@pytest.mark.parametrize(("path", "params"), COUNTING)
async def test_gateway_mode_counting_needs_the_role(
    app_client: Client, path: str, params: dict[str, str]
) -> None:
    async with app_client(count_role="admin") as http:
        plain = {"X-User-ID": "1", "X-User-Roles": "reader"}
        assert_problem(await http.get(path, params=params, headers=plain), 403, "'admin'")
        admin = {"X-User-ID": "1", "X-User-Roles": "reader, admin"}
        assert (await http.get(path, params=params, headers=admin)).status_code == 200
        listed = await http.get("/v1/messages", headers=plain)
        assert listed.status_code == 200
        assert listed.json() == []


async def test_gateway_mode_roles_only_from_trusted_proxies(app_client: Client) -> None:
    admin = {"X-User-ID": "1", "X-User-Roles": "admin"}
    settings = {"count_role": "admin", "trusted_proxies": "10.0.0.0/8"}
    async with app_client(STRANGER, **settings) as http:
        response = await http.get("/v1/messages/counts", headers=admin)
        assert_problem(response, 403, "not a trusted proxy")
    async with app_client(GATEWAY, **settings) as http:
        assert (await http.get("/v1/messages/counts", headers=admin)).status_code == 200


async def test_without_a_count_role_everyone_counts(app_client: Client) -> None:
    async with app_client() as http:
        for path, params in COUNTING:
            response = await http.get(path, params=params, headers={"X-User-ID": "1"})
            assert response.status_code == 200, path


@pytest.mark.parametrize(("path", "params"), COUNTING)
async def test_jwt_mode_counting_needs_the_role(
    app_client: Client, path: str, params: dict[str, str]
) -> None:
    async with app_client(**JWT, count_role="admin") as http:
        for roles in (None, [], ["reader"], "reader administrator"):
            token = hs256(claims(roles=roles))
            response = await http.get(path, params=params, headers=bearer(token))
            assert_problem(response, 403, "needs the role 'admin'")
        for roles in (["reader", "admin"], "reader admin"):
            token = hs256(claims(roles=roles))
            response = await http.get(path, params=params, headers=bearer(token))
            assert response.status_code == 200, response.text
        # The gateway's header means nothing here.
        token = hs256(claims())
        headers = {**bearer(token), "X-User-Roles": "admin"}
        assert_problem(await http.get(path, params=params, headers=headers), 403, "admin")
        assert (await http.get("/v1/messages", headers=bearer(token))).status_code == 200


# --- the contract document ----------------------------------------------------------------


async def test_openapi_describes_both_schemes_and_the_401s(app_client: Client) -> None:
    async with app_client() as http:
        document = (await http.get("/openapi.json")).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes["userId"] == {**schemes["userId"], "type": "apiKey", "name": "X-User-ID"}
    assert schemes["bearerAuth"] == {
        **schemes["bearerAuth"],
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    for path in ("/v1/messages", "/v1/messages/counts", "/v1/messages/{message_id}"):
        for method, operation in document["paths"][path].items():
            assert operation["security"] == [{"userId": []}, {"bearerAuth": []}], path
            assert "WWW-Authenticate" in operation["responses"]["401"]["headers"], path
            assert "403" in operation["responses"], (path, method)
    for path in ("/healthz", "/readyz"):
        assert "security" not in document["paths"][path]["get"]
        assert "401" not in document["paths"][path]["get"]["responses"]
