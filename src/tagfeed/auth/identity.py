"""Who is calling, and what they may do.

One ``Authenticator`` per app, chosen from ``TAGFEED_AUTH_MODE`` by the app factory:

- ``GatewayAuthenticator`` (``gateway``, the default): an API gateway in front authenticated
  the caller and names it in ``X-User-ID`` (its roles in ``X-User-Roles``). When
  ``TAGFEED_TRUSTED_PROXIES`` is set, only those peers are believed. Refusals are 403.
- ``JwtAuthenticator`` (``jwt``, in ``jwt_auth.py``): verifies ``Authorization: Bearer``.
  Refusals are 401 with ``WWW-Authenticate: Bearer``.

Routes call ``require_user`` and, where a role is needed, ``require_role``. Both read the
request's ASGI scope only, so they take the API's ``Call`` or a Starlette ``Request``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Address, IPv6Network, ip_address
from typing import Protocol

from tagfeed.auth.errors import Forbidden
from tagfeed.domain.users import USER_ID, USER_ID_RULE
from tagfeed.headers import HasScope, header_values

Network = IPv4Network | IPv6Network

_IDENTITY = "tagfeed.identity"  # the scope key that caches the caller for this request


@dataclass(frozen=True, slots=True)
class Identity:
    user_id: str
    roles: frozenset[str] = frozenset()


class Authenticator(Protocol):
    def authenticate(self, request: HasScope) -> Identity:
        """The caller; raises NotAuthenticated (401) or Forbidden (403) when no identity
        can be established."""
        ...


def peer_is_trusted(peer: str | None, trusted: Sequence[Network]) -> bool:
    """Whether the direct peer may vouch for users. No list trusts every peer; with a
    list, an unknown or unparsable peer is not trusted. An IPv4-mapped IPv6 peer
    (``::ffff:10.0.0.5``, from a dual-stack socket) matches as its IPv4 address."""
    if not trusted:
        return True
    if peer is None:
        return False
    try:
        address = ip_address(peer)
    except ValueError:
        return False
    if isinstance(address, IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in trusted)


def parse_roles(header: str | None) -> frozenset[str]:
    """``X-User-Roles``: role names separated by commas; blanks around them are dropped."""
    if header is None:
        return frozenset()
    return frozenset(role for part in header.split(",") if (role := part.strip()))


def _one_header(request: HasScope, name: str, key: bytes) -> str | None:
    """The one value of header ``name`` (``key``: its lower-case bytes, as ASGI has it)."""
    # A gateway that appends instead of replacing would leave the client's copy first.
    values = header_values(request.scope, key)
    if len(values) > 1:
        raise Forbidden(f"{name} must be sent once, got {len(values)}")
    return values[0] if values else None


class GatewayAuthenticator:
    """Trusted-gateway mode: believe ``X-User-ID`` and ``X-User-Roles`` from trusted peers."""

    def __init__(self, trusted_proxies: Sequence[Network] = ()) -> None:
        self.trusted_proxies = tuple(trusted_proxies)

    def authenticate(self, request: HasScope) -> Identity:
        # Checked first and whether or not X-User-ID is present: an untrusted peer has no
        # identity to offer, and the refusal should say why.
        client = request.scope.get("client")
        peer: str | None = client[0] if client else None
        if not peer_is_trusted(peer, self.trusted_proxies):
            raise Forbidden(
                f"requests must come through the API gateway: the peer {peer or '(unknown)'} "
                "is not a trusted proxy",
            )
        user_id = _one_header(request, "X-User-ID", b"x-user-id")
        if user_id is None:
            raise Forbidden("X-User-ID header is required")
        if not USER_ID.fullmatch(user_id):
            raise Forbidden(f"X-User-ID must be {USER_ID_RULE}")
        return Identity(user_id, parse_roles(_one_header(request, "X-User-Roles", b"x-user-roles")))


def authenticate(request: HasScope, authenticator: Authenticator | None = None) -> Identity:
    """The caller of this request, established once and cached in the scope (where the
    access log finds the user id). Raises what the authenticator raises. The API's
    handlers give the app's authenticator; without one, the request is a Starlette
    ``Request`` whose app holds it in its state."""
    cached = request.scope.get(_IDENTITY)
    if isinstance(cached, Identity):
        return cached
    if authenticator is None:
        authenticator = request.scope["app"].state.authenticator
    identity = authenticator.authenticate(request)
    request.scope[_IDENTITY] = identity
    request.scope["tagfeed.user_id"] = identity.user_id
    return identity


def require_user(request: HasScope, authenticator: Authenticator | None = None) -> str:
    """The caller's user id; raises NotAuthenticated or Forbidden (by mode) when there
    is none."""
    return authenticate(request, authenticator).user_id


def require_role(
    request: HasScope, role: str, authenticator: Authenticator | None = None
) -> Identity:
    """The caller, who must hold ``role``; raises Forbidden naming it otherwise."""
    identity = authenticate(request, authenticator)
    if role not in identity.roles:
        raise Forbidden(f"this needs the role {role!r}, which the caller does not have")
    return identity
