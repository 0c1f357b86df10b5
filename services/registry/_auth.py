"""Authentication and authorization of pallet-registry.

The server builds one `Authorizer` with `from_config(cfg["auth"])` and calls `await authorizer.check(request,
repo, actions)` before serving a request; it returns when the request is allowed and raises
`web.HTTPUnauthorized` (401, `WWW-Authenticate` challenge, OCI error body with code UNAUTHORIZED) or
`web.HTTPForbidden` (403, code DENIED) otherwise. `from_config(None)` (or `{}`) is None: anonymous access.

Config (a dict)::

    {"htpasswd": {"realm": "pallet-registry", "path": "/etc/pallet/htpasswd"},
     "token": {"realm": "https://host:5000/auth/token", "service": "pallet-registry",
               "issuer": "pallet-registry", "private_key": "/path/key.pem",
               "public_keys": ["/path/other-issuer.pem"], "expiration": 300,
               "issuers": ["other-issuer"], "leeway": 30},
     "access": [{"account": "alice", "repository": "alice/*", "actions": ["pull", "push", "delete"]},
                {"account": "*", "repository": "public/*", "actions": ["pull"]},
                {"account": "", "repository": "public/*", "actions": ["pull"]},
                {"account": "admin", "type": "registry", "repository": "catalog", "actions": ["*"]}]}

Modes:

* Basic (``htpasswd`` without ``token``): HTTP basic credentials checked against an htpasswd file of bcrypt
  entries ($2a$/$2b$/$2y$; other hash types are skipped with a warning). The file is re-read when its
  mtime/size/inode change. Challenge ``Basic realm="..."``.
* Token (``token``): requests carry ``Authorization: Bearer <JWT>``. Tokens are verified against the
  built-in key (``private_key``) and every ``public_keys`` file (PEM public key or X.509 certificate bundle),
  the issuer (``issuer``, plus optional ``issuers`` for external issuers), the audience (= ``service``) and the
  time claims (``leeway`` seconds, default 30); the ``access`` claim must cover the request, else 401 with
  ``error="insufficient_scope"``. With ``private_key`` the registry is its own token server: `routes()` gives
  ``GET <path of realm>`` (Docker token spec), authenticating with basic credentials against ``htpasswd``
  (optional: without it only anonymous tokens are issued). The server must NOT call `check` for that route.

Access rules: the first rule whose ``account`` matches (exact name; ``"*"`` any authenticated account; ``""``
anonymous) and whose ``repository`` glob matches the name grants its ``actions`` (``"*"`` = all, including
the ``*`` action). Rules apply to ``"type": "repository"`` resources unless they say ``"type": "registry"``
(the catalog is ``registry:catalog:*``, so ``"repository": "catalog", "actions": ["*"]``). Note that an
authenticated account does not fall back to the ``""`` rules: give ``"*"`` a rule too (as above).
Globs: ``*`` and ``?`` do not match ``/`` (``alice/*`` is ``alice/x``, not ``alice/x/y``); ``**`` matches
anything, slashes included (``alice/**``); other characters (also ``[``) are literal.
Without an ``access`` list any authenticated account may do everything and anonymous users nothing.

Requests without credentials are evaluated as the anonymous account ``""`` in both modes (in token mode that
is what an anonymous token would grant). The ``/v2/`` base check (``repo=None, actions=set()``) always needs
credentials (or any valid token) so that ``docker login`` verifies them. Once allowed, the account name
(``""`` for anonymous) is stored in ``request[ACCOUNT_KEY]``.

Passwords, Authorization headers and tokens are never logged.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import bcrypt
from aiohttp import web
from pallet import log

from . import _token

# Where check() leaves the authenticated account ("" = anonymous): request[ACCOUNT_KEY].
ACCOUNT_KEY: Any = (
    web.RequestKey("pallet_registry_account", str) if hasattr(web, "RequestKey") else "pallet.registry.account"
)
ACTIONS = ("pull", "push", "delete", "*")
_ALL = frozenset(ACTIONS)
_ORDER = {a: i for i, a in enumerate(ACTIONS)}
_TYPES = ("repository", "registry")
_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
# Checked for unknown users so that a missing account costs as much as a wrong password.
_DUMMY_HASH = b"$2b$10$qnUUu9NZK2jsOQwIxEe9xO1pc3Uh65sF6YkGhbY1deszqe2YCFmPa"
_CACHE_TTL = 60.0
_CACHE_MAX = 1024

_log = log.get("registry.auth")


def _sorted_actions(actions: Iterable[str]) -> list[str]:
    return sorted(actions, key=lambda a: (_ORDER.get(a, len(_ORDER)), a))


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- access rules ---------------------------------------------------------------------------------


def compile_glob(glob: str) -> re.Pattern[str]:
    """A repository glob as a regex: `*`/`?` stay within one path segment, `**` crosses segments."""
    out: list[str] = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out), re.DOTALL)


@dataclass(frozen=True)
class Rule:
    account: str
    type: str
    glob: str
    pattern: re.Pattern[str]
    actions: frozenset[str]

    def matches(self, account: str, rtype: str, name: str) -> bool:
        if self.type != rtype:
            return False
        if self.account == "*":
            if not account:
                return False
        elif self.account != account:
            return False
        return self.pattern.fullmatch(name) is not None


def _parse_rules(raw: Any) -> list[Rule] | None:
    if raw is None:
        return None
    if not isinstance(raw, list):
        raise ValueError("auth.access must be a list of rules")
    rules: list[Rule] = []
    for i, r in enumerate(raw):
        where = f"auth.access[{i}]"
        if not isinstance(r, dict):
            raise ValueError(f"{where} must be an object")
        unknown = set(r) - {"account", "repository", "name", "type", "actions"}
        if unknown:
            raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
        account, glob = r.get("account"), r.get("repository", r.get("name"))
        rtype, actions = r.get("type", "repository"), r.get("actions")
        if not isinstance(account, str):
            raise ValueError(f"{where}.account must be a string")
        if not isinstance(glob, str) or not glob:
            raise ValueError(f"{where}.repository must be a non-empty string")
        if rtype not in _TYPES:
            raise ValueError(f"{where}.type must be one of {list(_TYPES)}")
        if not isinstance(actions, list) or not all(isinstance(a, str) and a in _ALL for a in actions):
            raise ValueError(f"{where}.actions must be a list of {list(ACTIONS)}")
        granted = _ALL if "*" in actions else frozenset(actions)
        rules.append(Rule(account, rtype, glob, compile_glob(glob), granted))
    return rules


# --- htpasswd -------------------------------------------------------------------------------------


class Htpasswd:
    """bcrypt htpasswd entries, re-read when the file changes."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._sig: tuple[int, int, int] | None = None
        self._entries: dict[str, bytes] = {}
        self._cache_key = secrets.token_bytes(32)
        self._cache: dict[tuple[str, bytes], float] = {}
        if not os.path.isfile(path):
            raise ValueError(f"htpasswd file {path} not found")
        self._refresh()

    def _refresh(self) -> None:
        try:
            st = os.stat(self.path)
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
            if sig == self._sig:
                return
            with open(self.path, encoding="utf-8", errors="replace") as f:
                text = f.read()
        except OSError as exc:
            if self._sig != (-1, -1, -1):
                _log.error("htpasswd unreadable, denying all basic credentials", path=self.path, error=str(exc))
            self._sig, self._entries = (-1, -1, -1), {}
            return
        entries: dict[str, bytes] = {}
        for lineno, line in enumerate(text.splitlines(), 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            user, sep, hashed = line.partition(":")
            if not sep or not user or not hashed:
                _log.warning("htpasswd: malformed line skipped", path=self.path, line=lineno)
                continue
            if not hashed.startswith(_BCRYPT_PREFIXES):
                # Never log the hash itself; the user name and line number are enough.
                _log.warning("htpasswd: non-bcrypt entry skipped (use htpasswd -B)", path=self.path, line=lineno,
                             user=user)
                continue
            entries[user] = hashed.encode("ascii", errors="replace")
        self._sig, self._entries = sig, entries
        self._cache.clear()
        _log.info("htpasswd loaded", path=self.path, users=len(entries))

    def _digest(self, user: str, hashed: bytes, password: bytes) -> tuple[str, bytes]:
        return user, hmac.new(self._cache_key, hashed + b"\0" + password, hashlib.sha256).digest()

    async def verify(self, user: str, password: str) -> bool:
        self._refresh()
        hashed = self._entries.get(user)
        pw = password.encode("utf-8")[:72]  # bcrypt only uses 72 bytes (the bcrypt package refuses more)
        if hashed is None:
            await asyncio.to_thread(_checkpw, pw, _DUMMY_HASH)  # same cost as a wrong password
            return False
        # Successful checks are remembered for a minute (clients send basic credentials on every request and
        # bcrypt is slow on purpose). The key is an HMAC (per-process secret) of the entry and the password, so
        # the password is not kept and a changed entry is a miss.
        now = time.monotonic()
        key = self._digest(user, hashed, pw)
        expiry = self._cache.get(key)
        if expiry is not None and expiry > now:
            return True
        if await asyncio.to_thread(_checkpw, pw, hashed):
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = now + _CACHE_TTL
            return True
        return False


def _checkpw(password: bytes, hashed: bytes) -> bool:
    try:
        return bcrypt.checkpw(password, hashed)
    except ValueError:  # corrupt hash
        return False


def _basic_credentials(value: str) -> tuple[str, str] | None:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    if not sep or not user:
        return None
    return user, password


# --- the authorizer -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    realm: str
    service: str
    issuer: str
    expiration: int
    verifier: _token.Verifier
    signer: _token.Signer | None


def _str(cfg: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = cfg.get(key, default)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}.{key} must be a non-empty string")
    return value


class Authorizer:
    def __init__(self, cfg: dict[str, Any]) -> None:
        unknown = set(cfg) - {"htpasswd", "token", "access"}
        if unknown:
            raise ValueError(f"auth: unknown keys {sorted(unknown)}")
        self._rules = _parse_rules(cfg.get("access"))
        self._htpasswd: Htpasswd | None = None
        self._basic_realm = "pallet-registry"
        hp = cfg.get("htpasswd")
        if hp is not None:
            if not isinstance(hp, dict):
                raise ValueError("auth.htpasswd must be an object")
            self._basic_realm = _str(hp, "realm", "auth.htpasswd", "pallet-registry")
            self._htpasswd = Htpasswd(_str(hp, "path", "auth.htpasswd"))
        self._token: _Token | None = None
        tk = cfg.get("token")
        if tk is not None:
            self._token = self._load_token(tk)
        if self._htpasswd is None and self._token is None:
            raise ValueError("auth needs htpasswd or token")

    @staticmethod
    def _load_token(tk: Any) -> _Token:
        if not isinstance(tk, dict):
            raise ValueError("auth.token must be an object")
        realm, service = _str(tk, "realm", "auth.token"), _str(tk, "service", "auth.token")
        issuer = _str(tk, "issuer", "auth.token")
        expiration = tk.get("expiration", 300)
        leeway = tk.get("leeway", 30)
        if not isinstance(expiration, int) or isinstance(expiration, bool) or expiration <= 0:
            raise ValueError("auth.token.expiration must be a positive integer (seconds)")
        if not isinstance(leeway, int | float) or isinstance(leeway, bool) or leeway < 0:
            raise ValueError("auth.token.leeway must be a non-negative number (seconds)")
        issuers = tk.get("issuers", [])
        if not isinstance(issuers, list) or not all(isinstance(i, str) and i for i in issuers):
            raise ValueError("auth.token.issuers must be a list of strings")
        signer = None
        keys: list[_token.PublicKey] = []
        if tk.get("private_key") is not None:
            signer = _token.Signer(_token.load_private_key(_str(tk, "private_key", "auth.token")))
            keys.append(signer.key.public_key())
        public = tk.get("public_keys", [])
        if not isinstance(public, list) or not all(isinstance(p, str) for p in public):
            raise ValueError("auth.token.public_keys must be a list of paths")
        for path in public:
            keys.extend(_token.load_public_keys(path))
        if not keys:
            raise ValueError("auth.token needs private_key or public_keys")
        verifier = _token.Verifier(keys, audience=service, issuers=[issuer, *issuers], leeway=float(leeway))
        return _Token(realm, service, issuer, expiration, verifier, signer)

    # -- policy

    def allowed(self, account: str, rtype: str, name: str) -> frozenset[str]:
        """What `account` ("" = anonymous) may do on resource `rtype:name` under the access rules."""
        if self._rules is None:
            return _ALL if account else frozenset()
        for rule in self._rules:
            if rule.matches(account, rtype, name):
                return rule.actions
        return frozenset()

    # -- check

    async def check(self, request: web.Request, repo: str | None, actions: set[str]) -> None:
        need = frozenset(actions)
        if not need <= _ALL:
            raise ValueError(f"unknown actions {sorted(need - _ALL)}")
        if repo is None and need:
            rtype, name = "registry", "catalog"
        else:
            rtype, name = "repository", repo or ""
        header = request.headers.get("Authorization", "").strip()
        if not header:
            if need and need <= self.allowed("", rtype, name):
                request[ACCOUNT_KEY] = ""
                return
            raise self._unauthorized(rtype, name, need)
        scheme, _, cred = header.partition(" ")
        scheme = scheme.lower()

        if self._token is not None:
            if scheme != "bearer":
                raise self._unauthorized(rtype, name, need)
            try:
                claims = self._token.verifier.verify(cred.strip())
                granted = _token.parse_access_claim(claims.get("access")).get((rtype, name), frozenset())
            except _token.TokenError as exc:
                _log.info("token rejected", reason=str(exc), repo=repo, remote=request.remote)
                raise self._unauthorized(rtype, name, need, error="invalid_token") from None
            if need and not ("*" in granted or need <= granted):
                raise self._unauthorized(rtype, name, need, error="insufficient_scope")
            request[ACCOUNT_KEY] = claims.get("sub", "")
            return

        assert self._htpasswd is not None
        creds = _basic_credentials(cred) if scheme == "basic" else None
        if creds is None or not await self._htpasswd.verify(*creds):
            _log.info("basic authentication failed", user=creds[0] if creds else None, remote=request.remote)
            raise self._unauthorized(rtype, name, need)
        user = creds[0]
        if need and not need <= self.allowed(user, rtype, name):
            _log.info("access denied", user=user, type=rtype, name=name, actions=_sorted_actions(need))
            raise self._forbidden(rtype, name, need)
        request[ACCOUNT_KEY] = user

    # -- errors

    @staticmethod
    def _body(code: str, message: str, rtype: str, name: str, need: frozenset[str]) -> str:
        err: dict[str, Any] = {"code": code, "message": message}
        if need:
            err["detail"] = [{"Type": rtype, "Name": name, "Action": a} for a in _sorted_actions(need)]
        return json.dumps({"errors": [err]})

    def _challenge(self, rtype: str, name: str, need: frozenset[str], error: str | None) -> str:
        if self._token is None:
            return f"Basic realm={_quote(self._basic_realm)}"
        parts = [f"realm={_quote(self._token.realm)}", f"service={_quote(self._token.service)}"]
        if need:
            parts.append(f"scope={_quote(f'{rtype}:{name}:' + ','.join(_sorted_actions(need)))}")
        if error:
            parts.append(f"error={_quote(error)}")
        return "Bearer " + ",".join(parts)

    def _unauthorized(
        self, rtype: str, name: str, need: frozenset[str], error: str | None = None
    ) -> web.HTTPUnauthorized:
        return web.HTTPUnauthorized(
            headers={"WWW-Authenticate": self._challenge(rtype, name, need, error)},
            text=self._body("UNAUTHORIZED", "authentication required", rtype, name, need),
            content_type="application/json",
        )

    def _forbidden(self, rtype: str, name: str, need: frozenset[str]) -> web.HTTPForbidden:
        return web.HTTPForbidden(
            text=self._body("DENIED", "requested access to the resource is denied", rtype, name, need),
            content_type="application/json",
        )

    # -- token server

    def routes(self) -> list[web.RouteDef]:
        """The token endpoint (GET <realm path>) when this registry issues its own tokens, else []."""
        if self._token is None or self._token.signer is None:
            return []
        path = urlsplit(self._token.realm).path or "/auth/token"
        return [web.get(path, self._token_handler)]

    @staticmethod
    def _token_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.json_response(
            {"errors": [{"code": code, "message": message}]}, status=status, headers=headers
        )

    async def _token_handler(self, request: web.Request) -> web.Response:
        tk = self._token
        assert tk is not None and tk.signer is not None
        query = request.query
        service = query.get("service")
        if service is not None and service != tk.service:
            return self._token_error(400, "UNSUPPORTED", f"unknown service {service!r}")

        account = ""
        header = request.headers.get("Authorization", "").strip()
        if header:
            scheme, _, cred = header.partition(" ")
            creds = _basic_credentials(cred) if scheme.lower() == "basic" else None
            ok = creds is not None and self._htpasswd is not None and await self._htpasswd.verify(*creds)
            if not ok or creds is None:
                _log.info("token request: authentication failed", user=creds[0] if creds else None,
                          remote=request.remote)
                return self._token_error(
                    401, "UNAUTHORIZED", "authentication required",
                    headers={"WWW-Authenticate": f"Basic realm={_quote(self._basic_realm)}"},
                )
            account = creds[0]
        wanted = query.get("account")
        if wanted and account and wanted != account:
            return self._token_error(400, "DENIED", "account does not match the credentials")

        requested: dict[tuple[str, str], frozenset[str]] = {}
        for value in query.getall("scope", []):
            for scope in value.split():
                try:
                    acc = _token.parse_scope(scope)
                except ValueError as exc:
                    return self._token_error(400, "UNSUPPORTED", str(exc))
                key = (acc.type, acc.name)
                requested[key] = requested.get(key, frozenset()) | acc.actions

        access = []
        for (rtype, name), acts in requested.items():
            granted = acts & self.allowed(account, rtype, name) if rtype in _TYPES else frozenset()
            if granted:
                access.append({"type": rtype, "name": name, "actions": _sorted_actions(granted)})

        now = int(time.time())
        claims = {
            "iss": tk.issuer,
            "sub": account,
            "aud": tk.service,
            "exp": now + tk.expiration,
            "nbf": now,
            "iat": now,
            "jti": uuid.uuid4().hex,
            "access": access,
        }
        token = tk.signer.sign(claims)
        _log.info("token issued", account=account, access=[f"{a['type']}:{a['name']}:{','.join(a['actions'])}"
                                                          for a in access])
        return web.json_response(
            {"token": token, "access_token": token, "expires_in": tk.expiration, "issued_at": _rfc3339(now)},
            headers={"Cache-Control": "no-store"},
        )


def from_config(cfg: dict[str, Any] | None) -> Authorizer | None:
    """None for anonymous access (no or empty config), else an Authorizer; ValueError on a bad config."""
    if not cfg:
        return None
    if not isinstance(cfg, dict):
        raise ValueError("auth config must be an object")
    return Authorizer(cfg)
