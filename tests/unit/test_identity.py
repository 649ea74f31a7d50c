"""Identity in trusted-gateway mode, on Starlette requests built from ASGI scopes: which
peers are trusted, the identity headers, roles, and the cached identity of a request."""

from ipaddress import ip_network

import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from tagfeed.api.problems import status_for
from tagfeed.auth.errors import AuthError
from tagfeed.auth.identity import (
    GatewayAuthenticator,
    Identity,
    Network,
    parse_roles,
    peer_is_trusted,
    require_role,
    require_user,
)

TRUSTED: tuple[Network, ...] = tuple(
    ip_network(n) for n in ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::1", "fe80::/10")
)


def request(
    *headers: tuple[str, str], client: tuple[str, int] | None = ("10.0.0.5", 1234)
) -> Request:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/messages",
        "query_string": b"",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers],
        "client": client,
    }
    return Request(scope)


@pytest.mark.parametrize(
    ("peer", "trusted"),
    [
        ("10.0.0.5", True),
        ("10.255.255.255", True),
        ("11.0.0.1", False),
        ("192.0.2.7", True),  # a bare address is a network of one
        ("192.0.2.8", False),
        ("2001:db8::1", True),
        ("2001:db8:ffff::1", True),
        ("2001:db9::1", False),
        ("::1", True),
        ("::2", False),
        ("127.0.0.1", False),  # ::1 does not make IPv4 loopback trusted
        ("::ffff:10.1.2.3", True),  # IPv4-mapped, from a dual-stack socket
        ("::ffff:11.1.2.3", False),
        ("fe80::1%eth0", True),  # scoped link-local address
        ("testclient", False),  # not an address at all
        ("", False),
        (None, False),  # no peer (a Unix socket): nothing to vouch for it
    ],
)
def test_peer_is_trusted(peer: str | None, trusted: bool) -> None:
    assert peer_is_trusted(peer, TRUSTED) is trusted


@pytest.mark.parametrize("peer", ["203.0.113.9", "2001:db9::1", "testclient", None])
def test_no_list_trusts_every_peer(peer: str | None) -> None:
    assert peer_is_trusted(peer, ())


@pytest.mark.parametrize(
    ("header", "roles"),
    [
        (None, set()),
        ("", set()),
        ("admin", {"admin"}),
        ("admin,reader", {"admin", "reader"}),
        (" admin , reader,, ", {"admin", "reader"}),
        ("read write", {"read write"}),  # commas separate, not spaces
    ],
)
def test_parse_roles(header: str | None, roles: set[str]) -> None:
    assert parse_roles(header) == roles


def test_gateway_reads_user_and_roles() -> None:
    gateway = GatewayAuthenticator(TRUSTED)
    identity = gateway.authenticate(request(("X-User-ID", "auth0|abc"), ("X-User-Roles", "a,b")))
    assert identity == Identity("auth0|abc", frozenset({"a", "b"}))
    assert gateway.authenticate(request(("X-User-ID", "1"))) == Identity("1", frozenset())


@pytest.mark.parametrize(
    ("headers", "mentions"),
    [
        ((), "X-User-ID header is required"),
        ((("X-User-ID", ""),), "X-User-ID must be 1-128"),
        ((("X-User-ID", "a b"),), "X-User-ID must be 1-128"),
        ((("X-User-ID", "x" * 129),), "X-User-ID must be 1-128"),
        ((("X-User-ID", "a"), ("X-User-ID", "b")), "X-User-ID must be sent once"),
        ((("X-User-ID", "a"), ("X-User-Roles", "x"), ("X-User-Roles", "y")), "sent once"),
    ],
)
def test_gateway_refuses_missing_or_bad_headers(
    headers: tuple[tuple[str, str], ...], mentions: str
) -> None:
    with pytest.raises(AuthError) as refused:
        GatewayAuthenticator().authenticate(request(*headers))
    assert status_for(refused.value) == 403
    assert mentions in refused.value.detail
    assert "WWW-Authenticate" not in refused.value.headers


@pytest.mark.parametrize("headers", [(("X-User-ID", "1"),), ()])
@pytest.mark.parametrize(
    ("client", "shown"),
    [(("203.0.113.9", 1), "203.0.113.9"), (("2001:db9::1", 1), "2001:db9::1"), (None, "(unknown)")],
)
def test_gateway_refuses_untrusted_peers_whatever_they_send(
    headers: tuple[tuple[str, str], ...], client: tuple[str, int] | None, shown: str
) -> None:
    with pytest.raises(AuthError) as refused:
        GatewayAuthenticator(TRUSTED).authenticate(request(*headers, client=client))
    assert status_for(refused.value) == 403
    assert f"the peer {shown}" in refused.value.detail
    assert "not a trusted proxy" in refused.value.detail


class CountingAuthenticator:
    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self.calls = 0

    def authenticate(self, request: Request) -> Identity:
        self.calls += 1
        return self.identity


def app_request(authenticator: object) -> Request:
    app = Starlette()
    app.state.authenticator = authenticator
    built = request(("X-User-ID", "1"))
    built.scope["app"] = app
    return built


def test_the_identity_is_established_once_per_request() -> None:
    authenticator = CountingAuthenticator(Identity("alice", frozenset({"admin"})))
    incoming = app_request(authenticator)
    assert require_user(incoming) == "alice"
    assert require_role(incoming, "admin").user_id == "alice"
    assert require_user(incoming) == "alice"
    assert authenticator.calls == 1
    assert incoming.scope["tagfeed.user_id"] == "alice"  # for the access log


def test_require_role_refuses_a_caller_without_it() -> None:
    incoming = app_request(CountingAuthenticator(Identity("bob", frozenset({"reader"}))))
    with pytest.raises(AuthError) as refused:
        require_role(incoming, "admin")
    assert status_for(refused.value) == 403
    assert "'admin'" in refused.value.detail


def test_require_user_raises_what_the_authenticator_raises() -> None:
    incoming = app_request(GatewayAuthenticator(TRUSTED))
    incoming.scope["client"] = ("203.0.113.9", 1)
    with pytest.raises(AuthError, match="not a trusted proxy"):
        require_user(incoming)
    assert "tagfeed.user_id" not in incoming.scope
