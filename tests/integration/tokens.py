"""Helpers for authentication tests: JWTs, keys made on the spot, PEM and JWKS files."""

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

SECRET = "a-test-secret-that-is-long-enough-for-hs256"  # 43 bytes
ISSUER = "https://issuer.test/"
AUDIENCE = "tagfeed-test"

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def claims(**overrides: Any) -> dict[str, Any]:
    """Claims that pass every check of a server configured with ISSUER and AUDIENCE;
    an override of None drops that claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "sub": "auth0|alice",
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    merged = {**base, **overrides}
    return {name: value for name, value in merged.items() if value is not None}


def hs256(payload: dict[str, Any], secret: str = SECRET, **headers: Any) -> str:
    return jwt.encode(payload, secret, algorithm="HS256", headers=headers or None)


def signed(payload: dict[str, Any], key: PrivateKey, algorithm: str, **headers: Any) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def forged(payload: dict[str, Any], algorithm: str, mac_key: bytes | None) -> str:
    """A token PyJWT would refuse to make: ``alg: none`` (no signature), or an HMAC made
    with ``mac_key`` (e.g. an RSA public key's PEM, the classic algorithm confusion)."""
    header = _b64(json.dumps({"alg": algorithm, "typ": "JWT"}).encode())
    body = _b64(json.dumps(payload).encode())
    signing_input = f"{header}.{body}".encode()
    signature = b"" if mac_key is None else hmac.digest(mac_key, signing_input, hashlib.sha256)
    return f"{header}.{body}.{_b64(signature)}"


def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def ec_key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def public_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_pem(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(public_pem(key))
    return path


def public_jwk(key: PrivateKey, kid: str, **extra: Any) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        entry = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    else:
        entry = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    return {**entry, "kid": kid, **extra}


def write_jwks(path: Path, *entries: object) -> Path:
    path.write_text(json.dumps({"keys": list(entries)}))
    return path
