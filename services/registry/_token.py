"""JWT helpers for the registry's token authentication (Docker token spec).

Private to pallet.registry._auth: key loading, signing with the built-in issuer key,
verification against the built-in key and any external issuers' public keys, and
parsing of `type:name:actions` scopes and of the `access` claim.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey

# Signature algorithms only: never "none" nor HMAC (which would let a public key act as a secret).
_EC_ALGS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
_RSA_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")


class TokenError(Exception):
    """The token is not acceptable; the message is safe to log (it never contains the token)."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _int_b64(n: int) -> str:
    return _b64url(n.to_bytes((n.bit_length() + 7) // 8 or 1, "big"))


def key_id(pub: PublicKey) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key."""
    members: dict[str, str]
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        members = {"e": _int_b64(nums.e), "kty": "RSA", "n": _int_b64(nums.n)}
    elif isinstance(pub, ec.EllipticCurvePublicKey):
        nums_ec = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}.get(pub.curve.name, pub.curve.name)
        members = {
            "crv": crv,
            "kty": "EC",
            "x": _b64url(nums_ec.x.to_bytes(size, "big")),
            "y": _b64url(nums_ec.y.to_bytes(size, "big")),
        }
    else:
        raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        members = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    canon = json.dumps(members, sort_keys=True, separators=(",", ":")).encode()
    return _b64url(hashlib.sha256(canon).digest())


def signing_algorithm(key: PrivateKey) -> str:
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ec.EllipticCurvePrivateKey):
        try:
            return _EC_ALGS[key.curve.name]
        except KeyError:
            raise ValueError(f"unsupported EC curve {key.curve.name} (use P-256, P-384 or P-521)") from None
    return "EdDSA"


def verify_algorithms(pub: PublicKey) -> tuple[str, ...]:
    if isinstance(pub, rsa.RSAPublicKey):
        return _RSA_ALGS
    if isinstance(pub, ec.EllipticCurvePublicKey):
        alg = _EC_ALGS.get(pub.curve.name)
        return (alg,) if alg else ()
    return ("EdDSA",)


def load_private_key(path: str) -> PrivateKey:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
        raise ValueError(f"{path}: unsupported private key type {type(key).__name__}")
    signing_algorithm(key)  # rejects unsupported curves early
    return key


def load_public_keys(path: str) -> list[PublicKey]:
    """Public keys from a PEM file: a public key, or one or more X.509 certificates (a bundle)."""
    with open(path, "rb") as f:
        data = f.read()
    raw: list[Any] = []
    if b"-----BEGIN CERTIFICATE-----" in data:
        raw = [cert.public_key() for cert in x509.load_pem_x509_certificates(data)]
    else:
        raw = [serialization.load_pem_public_key(data)]
    keys: list[PublicKey] = []
    for k in raw:
        if not isinstance(k, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
            raise ValueError(f"{path}: unsupported public key type {type(k).__name__}")
        if not verify_algorithms(k):
            raise ValueError(f"{path}: unsupported EC curve")
        keys.append(k)
    if not keys:
        raise ValueError(f"{path}: no public key found")
    return keys


# --- scopes and access claims ---------------------------------------------------------------------


@dataclass(frozen=True)
class Access:
    type: str
    name: str
    actions: frozenset[str]


def parse_scope(scope: str) -> Access:
    """`repository:name:pull,push` -> Access. The name may itself contain ':' (e.g. a registry host:port),
    so the type is up to the first ':' and the actions after the last one."""
    rtype, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not rtype or not name:
        raise ValueError(f"invalid scope {scope!r}")
    acts = frozenset(a for a in actions.split(",") if a)
    return Access(rtype, name, acts)


def parse_access_claim(claim: Any) -> dict[tuple[str, str], frozenset[str]]:
    """The `access` claim as {(type, name): actions}, entries for the same resource merged."""
    if claim is None:
        return {}
    if not isinstance(claim, list):
        raise TokenError("malformed access claim")
    out: dict[tuple[str, str], frozenset[str]] = {}
    for entry in claim:
        if not isinstance(entry, dict):
            raise TokenError("malformed access claim")
        rtype, name, actions = entry.get("type"), entry.get("name"), entry.get("actions", [])
        if not isinstance(rtype, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise TokenError("malformed access claim")
        if not all(isinstance(a, str) for a in actions):
            raise TokenError("malformed access claim")
        key = (rtype, name)
        out[key] = out.get(key, frozenset()) | frozenset(actions)
    return out


# --- signing and verification ---------------------------------------------------------------------


class Signer:
    def __init__(self, key: PrivateKey) -> None:
        self.key = key
        self.algorithm = signing_algorithm(key)
        self.kid = key_id(key.public_key())

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key, algorithm=self.algorithm, headers={"kid": self.kid, "typ": "JWT"})


@dataclass(frozen=True)
class _VerifyKey:
    key: PublicKey
    algorithms: tuple[str, ...]
    kid: str


class Verifier:
    def __init__(self, keys: Iterable[PublicKey], audience: str, issuers: Sequence[str], leeway: float) -> None:
        self._keys = [_VerifyKey(k, verify_algorithms(k), key_id(k)) for k in keys]
        self._audience = audience
        self._issuers = list(issuers)
        self._leeway = leeway

    def verify(self, token: str) -> dict[str, Any]:
        """The verified claims, or TokenError."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token") from None
        alg = header.get("alg")
        if not isinstance(alg, str):
            raise TokenError("malformed token header")
        kid = header.get("kid")
        candidates = [k for k in self._keys if alg in k.algorithms]
        # A matching kid is tried first; external issuers may use other kid schemes, so all keys are tried.
        candidates.sort(key=lambda k: k.kid != kid)
        if not candidates:
            raise TokenError(f"unsupported or unexpected algorithm {alg!r}")
        for vk in candidates:
            try:
                claims = jwt.decode(
                    token,
                    vk.key,
                    algorithms=[alg],
                    audience=self._audience,
                    issuer=self._issuers,
                    leeway=self._leeway,
                    options={"require": ["exp", "iss", "aud"]},
                )
            except jwt.InvalidSignatureError:
                continue
            except jwt.ExpiredSignatureError:
                raise TokenError("token expired") from None
            except jwt.ImmatureSignatureError:
                raise TokenError("token not yet valid") from None
            except jwt.InvalidAudienceError:
                raise TokenError("wrong audience") from None
            except jwt.InvalidIssuerError:
                raise TokenError("untrusted issuer") from None
            except jwt.MissingRequiredClaimError as exc:
                raise TokenError(f"missing claim {exc.claim}") from None
            except jwt.InvalidTokenError as exc:
                raise TokenError(f"invalid token ({type(exc).__name__})") from None
            except jwt.PyJWTError:  # e.g. InvalidKeyError: this key cannot check this token
                continue
            sub = claims.get("sub", "")
            if not isinstance(sub, str):
                raise TokenError("malformed sub claim")
            return claims
        raise TokenError("signature not verified by any trusted key")
