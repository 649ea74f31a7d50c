"""JWT mode: the caller proves who it is with ``Authorization: Bearer <JWT>`` (RFC 6750).

The token must carry a valid signature by a configured key, with that key's algorithm
(``tagfeed.auth.jwt_keys``), and ``exp`` and ``sub``; ``nbf`` and ``iat`` are checked when
present, ``iss`` and ``aud`` when configured (then they are required), all with a small
leeway for clock skew. ``sub`` is the user id; ``roles`` (a list of strings or one
space-separated string) the caller's roles. ``X-User-ID`` is never read in this mode.

Every refusal is a 401 with ``WWW-Authenticate: Bearer``, plus ``error="invalid_token"``
and a fixed description when a token was sent but is unusable. Descriptions never quote
the token or anything from it.
"""

from typing import Any

import jwt
from jwt.exceptions import InvalidSubjectError

from tagfeed.auth.errors import NotAuthenticated
from tagfeed.auth.identity import Identity
from tagfeed.auth.jwt_keys import KeyRing
from tagfeed.domain.users import USER_ID, USER_ID_RULE
from tagfeed.headers import HasScope, first_header

MAX_TOKEN_LENGTH = 8192  # far above any real token; refuse before parsing anything larger

# The first class in the exception's MRO found here describes it.
_DESCRIPTIONS: dict[type[jwt.PyJWTError], str] = {
    jwt.ExpiredSignatureError: "the token has expired",
    jwt.ImmatureSignatureError: "the token is not valid yet",
    jwt.InvalidIssuerError: "the token has the wrong issuer",
    jwt.InvalidAudienceError: "the token is meant for another audience",
    InvalidSubjectError: "the token sub must be a string",
    jwt.InvalidSignatureError: "the token signature does not verify",
    jwt.InvalidAlgorithmError: "the token algorithm is not accepted",
    jwt.DecodeError: "the token is malformed",
}


def _missing(detail: str) -> NotAuthenticated:
    # RFC 6750 §3.1: no error code when the request carried no token at all.
    return NotAuthenticated(detail, {"WWW-Authenticate": "Bearer"})


def _invalid(description: str) -> NotAuthenticated:
    # ``description`` is one of our fixed texts: no quotes or backslashes to escape.
    challenge = f'Bearer error="invalid_token", error_description="{description}"'
    return NotAuthenticated(description, {"WWW-Authenticate": challenge})


def describe(exc: jwt.PyJWTError) -> str:
    """A fixed, safe description of why PyJWT refused a token."""
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"the token has no {exc.claim} claim"
    for cls in type(exc).__mro__:
        if cls in _DESCRIPTIONS:
            return _DESCRIPTIONS[cls]
    return "the token is invalid"


def bearer_token(authorization: str | None) -> str:
    """The token of an ``Authorization: Bearer <token>`` header (scheme case-insensitive);
    raises NotAuthenticated when there is none."""
    if authorization is None:
        raise _missing("an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise _missing("the Authorization header must be Bearer <token>")
    if len(token) > MAX_TOKEN_LENGTH:
        raise _invalid(f"the token is longer than {MAX_TOKEN_LENGTH} characters")
    return token


def roles_of(claims: dict[str, Any]) -> frozenset[str]:
    """The ``roles`` claim: absent, a list of strings, or one space-separated string."""
    roles = claims.get("roles")
    if roles is None:
        return frozenset()
    if isinstance(roles, str):
        return frozenset(roles.split())
    if isinstance(roles, list) and all(isinstance(role, str) for role in roles):
        return frozenset(roles)
    raise _invalid("the roles claim must be a list of strings or a space-separated string")


class JwtAuthenticator:
    def __init__(
        self,
        keys: KeyRing,
        *,
        issuer: str | None = None,
        audience: str | None = None,
        leeway_seconds: float = 30,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway_seconds
        required = ["exp", "sub"]
        # ``enforce_minimum_key_length`` turns a weak key into a refusal, not a warning.
        self._jwt = jwt.PyJWT({"require": required, "enforce_minimum_key_length": True})

    def verify(self, token: str) -> dict[str, Any]:
        """The claims of a token that passes every check; raises NotAuthenticated."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise _invalid("the token is malformed") from None
        key = self._keys.key_for(kid)
        if key is None:
            raise _invalid("the token has no kid" if kid is None else "the token kid is unknown")
        try:
            return self._jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=self._leeway,
            )
        except jwt.PyJWTError as exc:
            raise _invalid(describe(exc)) from None

    def authenticate(self, request: HasScope) -> Identity:
        claims = self.verify(bearer_token(first_header(request.scope, b"authorization")))
        subject = claims["sub"]  # required, and a string: PyJWT checked both
        if not USER_ID.fullmatch(subject):
            raise _invalid(f"the token sub must be {USER_ID_RULE}")
        return Identity(subject, roles_of(claims))
