"""The keys that verify JWTs in ``TAGFEED_AUTH_MODE=jwt``, read once at start-up.

Each key carries the one algorithm it may verify, fixed by configuration and by the key's
own type, never by a token's header (RFC 8725 §2.1, §3.1): a shared secret verifies only
HS256, an RSA public key only RS256, a P-256 public key only ES256. ``none`` is never an
algorithm here, so an unsigned token can never verify.

Every loader raises ValueError with a reason fit for a start-up error message.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, EllipticCurvePublicKey
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

HS256, RS256, ES256 = "HS256", "RS256", "ES256"
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash
MIN_RSA_BITS = 2048  # RFC 7518 §3.3

PublicKey = RSAPublicKey | EllipticCurvePublicKey


@dataclass(frozen=True, slots=True)
class VerificationKey:
    key: bytes | PublicKey = field(repr=False)  # a secret must never reach a log line
    algorithm: str


@dataclass(frozen=True, slots=True)
class KeyRing:
    """Either one key for every token, or keys picked by the token's ``kid`` header."""

    single: VerificationKey | None = None
    by_kid: Mapping[str, VerificationKey] = field(default_factory=dict)

    def key_for(self, kid: object) -> VerificationKey | None:
        """The key that may verify a token with this ``kid`` header, or None."""
        if self.single is not None:
            return self.single
        return self.by_kid.get(kid) if isinstance(kid, str) else None


def secret_keys(secret: str) -> KeyRing:
    raw = secret.encode("utf-8")
    if len(raw) < MIN_SECRET_BYTES:
        raise ValueError(
            f"must be at least {MIN_SECRET_BYTES} bytes, got {len(raw)}; make one with "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return KeyRing(single=VerificationKey(raw, HS256))


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None


def _public_key(key: object) -> VerificationKey:
    """The key with the one algorithm it may verify; ValueError for any other kind of key."""
    if isinstance(key, RSAPublicKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(f"an RSA key needs at least {MIN_RSA_BITS} bits, got {key.key_size}")
        return VerificationKey(key, RS256)
    if isinstance(key, EllipticCurvePublicKey) and isinstance(key.curve, SECP256R1):
        return VerificationKey(key, ES256)
    kind = type(key).__name__.lstrip("_")
    raise ValueError(f"only RSA (RS256) and P-256 (ES256) public keys are accepted, not {kind}")


def pem_keys(path: Path) -> KeyRing:
    content = _read(path)
    try:
        key = load_pem_public_key(content)
    except ValueError:
        raise ValueError(f"{path} holds no PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    return KeyRing(single=_public_key(key))


def jwks_keys(path: Path) -> KeyRing:
    """Every signing key of a JWKS file (RFC 7517) that has a ``kid`` and is an RSA or
    P-256 public key; other keys (encryption keys, symmetric keys, other curves) are
    skipped. A private key in the file is an error: the verifier must never hold one."""
    try:
        document = json.loads(_read(path))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not JSON: {exc}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise ValueError(f'{path} is not a JWK set: it needs {{"keys": [...]}}')
    found: dict[str, VerificationKey] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kid = entry.get("kid")
        if "d" in entry:
            raise ValueError(f"{path}: key {kid!r} is a private key; publish only public keys")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = _public_key(jwt.PyJWK(entry).key)
        except (jwt.PyJWTError, ValueError):
            continue
        if entry.get("alg", key.algorithm) == key.algorithm:
            found[kid] = key
    if not found:
        raise ValueError(f"{path} holds no usable signing key (RSA or P-256, with a kid)")
    return KeyRing(by_kid=found)
