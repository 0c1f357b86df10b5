"""pallet.registry._auth: htpasswd basic auth, access rules, and the JWT token flow, against a tiny aiohttp app
whose handler calls `await authorizer.check(...)` (no registry server needed)."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import bcrypt
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pallet.registry import _auth, _token
from pallet.registry._auth import ACCOUNT_KEY, Authorizer, from_config

REALM = "https://registry.test/auth/token"
SERVICE = "pallet-registry"
ISSUER = "pallet-registry"

ACCESS = [
    {"account": "alice", "repository": "alice/*", "actions": ["pull", "push", "delete"]},
    {"account": "admin", "repository": "**", "actions": ["*"]},
    {"account": "admin", "type": "registry", "repository": "catalog", "actions": ["*"]},
    {"account": "*", "repository": "public/*", "actions": ["pull"]},
    {"account": "", "repository": "public/*", "actions": ["pull"]},
]


def _hash(password: str, prefix: str = "$2b$") -> str:
    h = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    return prefix + h[4:]


def _pem_private(key: Any) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _pem_public(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    path = tmp_path / "htpasswd"
    path.write_text(
        "# users\n"
        f"alice:{_hash('alice-pw', '$2y$')}\n"
        f"bob:{_hash('bob-pw', '$2a$')}\n"
        f"admin:{_hash('admin-pw')}\n"
        "carol:$apr1$abcdefgh$0123456789abcdefghijkl\n"
        "\n"
        "garbage-line\n"
    )
    return path


AUTHZ = web.AppKey("authz", Authorizer)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def _check_handler(request: web.Request) -> web.Response:
    authz: Authorizer = request.app[AUTHZ]
    repo = request.query.get("repo")
    actions = {a for a in request.query.get("actions", "").split(",") if a}
    await authz.check(request, repo, actions)
    return web.json_response({"account": request[ACCOUNT_KEY]})


def _run(authz: Authorizer, body: Callable[[TestClient[Any, Any]], Awaitable[None]]) -> None:
    """Serve a tiny app (GET /check?repo=..&actions=.. plus authz.routes()) and run `body` against it."""

    async def main() -> None:
        app = web.Application()
        app[AUTHZ] = authz
        app.router.add_get("/check", _check_handler)
        app.add_routes(authz.routes())
        async with TestClient(TestServer(app)) as client:
            await body(client)

    asyncio.run(main())


async def _get(client: TestClient[Any, Any], repo: str | None, actions: str,
               headers: dict[str, str] | None = None) -> tuple[int, Any, dict[str, str]]:
    params = {"actions": actions}
    if repo is not None:
        params["repo"] = repo
    resp = await client.get("/check", params=params, headers=headers or {})
    if resp.status in (401, 403):
        assert resp.content_type == "application/json"
    body = await resp.json() if resp.content_type == "application/json" else await resp.text()
    return resp.status, body, dict(resp.headers)


def _basic_authz(htpasswd: Path, access: list[dict[str, Any]] | None = ACCESS) -> Authorizer:
    cfg: dict[str, Any] = {"htpasswd": {"realm": "pallet-registry", "path": str(htpasswd)}}
    if access is not None:
        cfg["access"] = access
    authz = from_config(cfg)
    assert authz is not None
    return authz


# --- config ---------------------------------------------------------------------------------------


def test_from_config_anonymous_and_invalid(htpasswd: Path, tmp_path: Path) -> None:
    assert from_config(None) is None
    assert from_config({}) is None
    with pytest.raises(ValueError, match="unknown keys"):
        from_config({"htpasswd": {"path": str(htpasswd)}, "acess": []})
    with pytest.raises(ValueError, match="needs htpasswd or token"):
        from_config({"access": []})
    with pytest.raises(ValueError, match="not found"):
        from_config({"htpasswd": {"path": str(tmp_path / "missing")}})
    with pytest.raises(ValueError, match="actions"):
        from_config({"htpasswd": {"path": str(htpasswd)},
                     "access": [{"account": "a", "repository": "x", "actions": ["pul"]}]})
    with pytest.raises(ValueError, match="private_key or public_keys"):
        from_config({"token": {"realm": REALM, "service": SERVICE, "issuer": ISSUER}})


def test_glob_does_not_cross_slashes() -> None:
    g = _auth.compile_glob("alice/*")
    assert g.fullmatch("alice/app")
    assert not g.fullmatch("alice/app/sub")
    assert not g.fullmatch("alicex/app")
    assert _auth.compile_glob("alice/**").fullmatch("alice/app/sub")
    assert _auth.compile_glob("a?c").fullmatch("abc")
    assert not _auth.compile_glob("a?c").fullmatch("a/c")
    assert _auth.compile_glob("x.y[1]").fullmatch("x.y[1]")
    assert not _auth.compile_glob("x.y").fullmatch("xzy")


def test_scope_parsing() -> None:
    acc = _token.parse_scope("repository:host:5000/foo/bar:pull,push")
    assert (acc.type, acc.name, acc.actions) == ("repository", "host:5000/foo/bar", frozenset({"pull", "push"}))
    assert _token.parse_scope("registry:catalog:*").actions == frozenset({"*"})
    for bad in ("repository", "repository:foo", ":foo:pull"):
        with pytest.raises(ValueError):
            _token.parse_scope(bad)


# --- basic ----------------------------------------------------------------------------------------


def test_basic_missing_header_challenges(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data, headers = await _get(client, "alice/app", "pull,push")
        assert status == 401
        assert headers["WWW-Authenticate"] == 'Basic realm="pallet-registry"'
        assert data == {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required", "detail": [
            {"Type": "repository", "Name": "alice/app", "Action": "pull"},
            {"Type": "repository", "Name": "alice/app", "Action": "push"},
        ]}]}
        # the /v2/ base always needs credentials (so that docker login verifies them)
        status, data, headers = await _get(client, None, "")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
        assert data == {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}

    _run(_basic_authz(htpasswd), body)


def test_basic_accept_and_reject(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data, _ = await _get(client, "alice/app", "pull,push,delete", _basic("alice", "alice-pw"))  # $2y$
        assert (status, data) == (200, {"account": "alice"})
        status, data, _ = await _get(client, None, "", _basic("bob", "bob-pw"))  # $2a$, base endpoint
        assert (status, data) == (200, {"account": "bob"})
        # again: served from the verification cache, same answer
        assert (await _get(client, "alice/app", "pull", _basic("alice", "alice-pw")))[0] == 200

        for headers in (
            _basic("alice", "wrong"),
            _basic("alice", "alice-pw" + "x"),
            _basic("nobody", "alice-pw"),
            _basic("carol", "carol-pw"),  # non-bcrypt entry: skipped
            {"Authorization": "Basic !!!notbase64"},
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
            {"Authorization": "Bearer abc"},
        ):
            status, data, hdrs = await _get(client, "alice/app", "pull", headers)
            assert status == 401, headers
            assert hdrs["WWW-Authenticate"] == 'Basic realm="pallet-registry"'
            assert data["errors"][0]["code"] == "UNAUTHORIZED"

    _run(_basic_authz(htpasswd), body)


def test_basic_forbidden_is_denied(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data, headers = await _get(client, "bob/app", "push", _basic("alice", "alice-pw"))
        assert status == 403
        assert "WWW-Authenticate" not in headers
        assert data == {"errors": [{"code": "DENIED", "message": "requested access to the resource is denied",
                                    "detail": [{"Type": "repository", "Name": "bob/app", "Action": "push"}]}]}
        # alice/* does not reach into alice/app/sub
        assert (await _get(client, "alice/app/sub", "pull", _basic("alice", "alice-pw")))[0] == 403
        # "*" rule: any authenticated account may pull public/*, not push
        assert (await _get(client, "public/x", "pull", _basic("bob", "bob-pw")))[0] == 200
        assert (await _get(client, "public/x", "pull,push", _basic("bob", "bob-pw")))[0] == 403
        # catalog: only admin
        status, data, _ = await _get(client, None, "*", _basic("alice", "alice-pw"))
        assert status == 403
        assert data["errors"][0]["detail"] == [{"Type": "registry", "Name": "catalog", "Action": "*"}]
        assert (await _get(client, None, "*", _basic("admin", "admin-pw")))[0] == 200
        assert (await _get(client, "any/deep/repo", "pull,push,delete", _basic("admin", "admin-pw")))[0] == 200

    _run(_basic_authz(htpasswd), body)


def test_anonymous_pull_public_only(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data, _ = await _get(client, "public/x", "pull")
        assert (status, data) == (200, {"account": ""})
        status, data, headers = await _get(client, "public/x", "push")
        assert status == 401 and headers["WWW-Authenticate"].startswith("Basic ")
        assert (await _get(client, "public/x/deeper", "pull"))[0] == 401
        assert (await _get(client, "alice/app", "pull"))[0] == 401
        assert (await _get(client, None, "*"))[0] == 401

    _run(_basic_authz(htpasswd), body)


def test_no_access_list_means_authenticated_may_do_everything(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        assert (await _get(client, "any/repo", "pull,push,delete", _basic("bob", "bob-pw")))[0] == 200
        assert (await _get(client, None, "*", _basic("bob", "bob-pw")))[0] == 200
        assert (await _get(client, "any/repo", "pull"))[0] == 401

    _run(_basic_authz(htpasswd, access=None), body)


def test_htpasswd_reload_on_change(htpasswd: Path) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        assert (await _get(client, "alice/app", "pull", _basic("alice", "alice-pw")))[0] == 200
        assert (await _get(client, "alice/app", "pull", _basic("alice", "new-pw")))[0] == 401
        assert (await _get(client, None, "", _basic("dave", "dave-pw")))[0] == 401

        htpasswd.write_text(f"alice:{_hash('new-pw')}\ndave:{_hash('dave-pw')}\n")
        st = htpasswd.stat()
        os.utime(htpasswd, ns=(st.st_atime_ns, st.st_mtime_ns + 2_000_000_000))  # coarse-mtime filesystems

        # the old password is no longer accepted (not even from the verification cache)
        assert (await _get(client, "alice/app", "pull", _basic("alice", "alice-pw")))[0] == 401
        assert (await _get(client, "alice/app", "pull", _basic("alice", "new-pw")))[0] == 200
        assert (await _get(client, None, "", _basic("dave", "dave-pw")))[0] == 200
        assert (await _get(client, None, "", _basic("bob", "bob-pw")))[0] == 401

        htpasswd.unlink()  # a vanished file denies everyone
        assert (await _get(client, "alice/app", "pull", _basic("alice", "new-pw")))[0] == 401

    _run(_basic_authz(htpasswd), body)


# --- token ----------------------------------------------------------------------------------------


def _token_authz(tmp_path: Path, htpasswd: Path | None, private_key: Any, public_keys: tuple[Any, ...] = (),
                 issuers: list[str] | None = None) -> Authorizer:
    key_path = tmp_path / "issuer.pem"
    key_path.write_bytes(_pem_private(private_key))
    pubs = []
    for i, k in enumerate(public_keys):
        p = tmp_path / f"external-{i}.pem"
        p.write_bytes(_pem_public(k))
        pubs.append(str(p))
    token: dict[str, Any] = {"realm": REALM, "service": SERVICE, "issuer": ISSUER, "private_key": str(key_path),
                             "public_keys": pubs, "expiration": 300}
    if issuers:
        token["issuers"] = issuers
    cfg: dict[str, Any] = {"token": token, "access": ACCESS}
    if htpasswd is not None:
        cfg["htpasswd"] = {"realm": "pallet-registry", "path": str(htpasswd)}
    authz = from_config(cfg)
    assert authz is not None
    return authz


async def _fetch_token(client: TestClient[Any, Any], scopes: list[str], headers: dict[str, str] | None = None,
                       **params: str) -> tuple[int, Any]:
    query: list[tuple[str, str]] = [("service", SERVICE), *(("scope", s) for s in scopes), *params.items()]
    resp = await client.get("/auth/token", params=query, headers=headers or {})
    return resp.status, await resp.json()


def _claims(token: str, key: Any, alg: str) -> dict[str, Any]:
    return jwt.decode(token, key.public_key(), algorithms=[alg], audience=SERVICE, issuer=ISSUER)


def _signed(key: Any, alg: str, *, iss: str = ISSUER, aud: str = SERVICE, exp_in: int = 300,
            access: list[dict[str, Any]] | None = None, sub: str = "alice") -> str:
    now = int(time.time())
    claims = {"iss": iss, "sub": sub, "aud": aud, "exp": now + exp_in, "nbf": now - 10, "iat": now - 10,
              "jti": "t", "access": access if access is not None else
              [{"type": "repository", "name": "alice/app", "actions": ["pull", "push"]}]}
    return jwt.encode(claims, key, algorithm=alg)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_token_flow_end_to_end(tmp_path: Path, htpasswd: Path, ec_key: Any, rsa_key: Any, kind: str) -> None:
    key, alg = (ec_key, "ES256") if kind == "ec" else (rsa_key, "RS256")
    authz = _token_authz(tmp_path, htpasswd, key)
    assert [r.path for r in authz.routes()] == ["/auth/token"]  # type: ignore[attr-defined]

    async def body(client: TestClient[Any, Any]) -> None:
        # the challenge points at the token server, with the scope (none for the base)
        status, data, headers = await _get(client, "alice/app", "pull,push")
        assert status == 401
        assert headers["WWW-Authenticate"] == (
            f'Bearer realm="{REALM}",service="{SERVICE}",scope="repository:alice/app:pull,push"')
        assert data["errors"][0]["code"] == "UNAUTHORIZED"
        status, _, headers = await _get(client, None, "")
        assert headers["WWW-Authenticate"] == f'Bearer realm="{REALM}",service="{SERVICE}"'
        # basic credentials are not accepted on registry requests in token mode
        assert (await _get(client, "alice/app", "pull", _basic("alice", "alice-pw")))[0] == 401

        status, resp = await _fetch_token(
            client,
            ["repository:alice/app:pull,push", "repository:bob/app:pull,push",
             "repository:public/x:pull,push,delete registry:catalog:*"],
            _basic("alice", "alice-pw"), account="alice")
        assert status == 200
        assert resp["token"] == resp["access_token"]
        assert resp["expires_in"] == 300
        assert resp["issued_at"].endswith("Z")
        header = jwt.get_unverified_header(resp["token"])
        assert header["alg"] == alg and header["kid"]
        claims = _claims(resp["token"], key, alg)
        assert claims["sub"] == "alice"
        assert {"exp", "nbf", "iat", "jti"} <= set(claims)
        assert claims["exp"] - claims["iat"] == 300
        # only the allowed subset is granted; bob/app and the catalog not at all
        assert claims["access"] == [
            {"type": "repository", "name": "alice/app", "actions": ["pull", "push"]},
            {"type": "repository", "name": "public/x", "actions": ["pull"]},
        ]

        bearer = _bearer(resp["token"])
        status, data, _ = await _get(client, "alice/app", "pull,push", bearer)
        assert (status, data) == (200, {"account": "alice"})
        assert (await _get(client, None, "", bearer))[0] == 200  # base: any valid token
        assert (await _get(client, "public/x", "pull", bearer))[0] == 200
        for repo, actions in (("public/x", "push"), ("alice/app", "delete"), ("bob/app", "pull"), (None, "*")):
            status, data, headers = await _get(client, repo, actions, bearer)
            assert status == 401, (repo, actions)
            assert 'error="insufficient_scope"' in headers["WWW-Authenticate"]
            assert data["errors"][0]["code"] == "UNAUTHORIZED"
        _, _, headers = await _get(client, "public/x", "push", bearer)
        assert 'scope="repository:public/x:push"' in headers["WWW-Authenticate"]

    _run(authz, body)


def test_token_endpoint_errors_and_anonymous(tmp_path: Path, htpasswd: Path, ec_key: Any) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        status, data = await _fetch_token(client, ["repository:alice/app:pull"], _basic("alice", "nope"))
        assert status == 401 and data["errors"][0]["code"] == "UNAUTHORIZED"
        resp = await client.get("/auth/token", params={"service": SERVICE}, headers=_basic("alice", "nope"))
        assert resp.headers["WWW-Authenticate"] == 'Basic realm="pallet-registry"'
        assert (await _fetch_token(client, [], _basic("alice", "alice-pw"), account="bob"))[0] == 400
        resp = await client.get("/auth/token", params={"service": "other"})
        assert resp.status == 400
        assert (await _fetch_token(client, ["repository:nope"]))[0] == 400

        # anonymous token: pull on public/*, nothing else
        status, data = await _fetch_token(client, ["repository:public/x:pull,push", "repository:alice/app:pull"])
        assert status == 200
        claims = _claims(data["token"], ec_key, "ES256")
        assert claims["sub"] == ""
        assert claims["access"] == [{"type": "repository", "name": "public/x", "actions": ["pull"]}]
        bearer = _bearer(data["token"])
        assert (await _get(client, "public/x", "pull", bearer))[0] == 200
        assert (await _get(client, "public/x", "push", bearer))[0] == 401
        assert (await _get(client, None, "", bearer))[0] == 200
        # and without any token, the anonymous rules apply directly
        assert (await _get(client, "public/x", "pull"))[0] == 200
        assert (await _get(client, "public/x", "push"))[0] == 401

        # admin asking "*" gets "*"
        status, data = await _fetch_token(client, ["registry:catalog:*"], _basic("admin", "admin-pw"))
        assert _claims(data["token"], ec_key, "ES256")["access"] == [
            {"type": "registry", "name": "catalog", "actions": ["*"]}]
        assert (await _get(client, None, "*", _bearer(data["token"])))[0] == 200

    _run(_token_authz(tmp_path, htpasswd, ec_key), body)


def test_token_rejections(tmp_path: Path, htpasswd: Path, ec_key: Any, rsa_key: Any) -> None:
    stranger = ec.generate_private_key(ec.SECP256R1())

    async def body(client: TestClient[Any, Any]) -> None:
        assert (await _get(client, "alice/app", "pull", _bearer(_signed(ec_key, "ES256"))))[0] == 200

        bad = {
            "expired": _signed(ec_key, "ES256", exp_in=-120),
            "unknown key": _signed(stranger, "ES256"),
            "wrong audience": _signed(ec_key, "ES256", aud="other-registry"),
            "wrong issuer": _signed(ec_key, "ES256", iss="someone-else"),
            "hmac (hs256)": jwt.encode(
                {"iss": ISSUER, "aud": SERVICE, "exp": int(time.time()) + 60}, "s" * 32, algorithm="HS256"),
            "unsigned": jwt.encode({"iss": ISSUER, "aud": SERVICE, "exp": int(time.time()) + 60}, None,  # type: ignore[arg-type]
                                   algorithm="none"),
            "garbage": "not.a.jwt",
            "malformed access": _signed(ec_key, "ES256", access={"x": 1}),  # type: ignore[arg-type]
        }
        for what, token in bad.items():
            status, data, headers = await _get(client, "alice/app", "pull", _bearer(token))
            assert status == 401, what
            assert 'error="invalid_token"' in headers["WWW-Authenticate"], what
            assert data["errors"][0]["code"] == "UNAUTHORIZED"
        # within the leeway, a just-expired token still passes
        assert (await _get(client, "alice/app", "pull", _bearer(_signed(ec_key, "ES256", exp_in=-5))))[0] == 200

    _run(_token_authz(tmp_path, htpasswd, ec_key), body)


def test_external_issuer_key_accepted(tmp_path: Path, ec_key: Any, rsa_key: Any) -> None:
    # no htpasswd: this registry only issues anonymous tokens, but trusts tokens of an external issuer
    authz = _token_authz(tmp_path, None, ec_key, public_keys=(rsa_key,), issuers=["external-auth"])

    async def body(client: TestClient[Any, Any]) -> None:
        for iss in ("external-auth", ISSUER):
            token = _signed(rsa_key, "RS256", iss=iss, sub="eve",
                            access=[{"type": "repository", "name": "team/app", "actions": ["pull", "push"]}])
            status, data, _ = await _get(client, "team/app", "push", _bearer(token))
            assert (status, data) == (200, {"account": "eve"})
            assert (await _get(client, "team/app", "delete", _bearer(token)))[0] == 401
        token = _signed(rsa_key, "RS256", iss="not-trusted")
        assert (await _get(client, "alice/app", "pull", _bearer(token)))[0] == 401
        # the built-in issuer cannot authenticate anyone without htpasswd
        assert (await _fetch_token(client, ["repository:public/x:pull"], _basic("alice", "alice-pw")))[0] == 401

    _run(authz, body)


def test_verify_only_token_mode_has_no_routes(tmp_path: Path, rsa_key: Any) -> None:
    pub = tmp_path / "ext.pem"
    pub.write_bytes(_pem_public(rsa_key))
    authz = from_config({"token": {"realm": "https://auth.example/token", "service": SERVICE, "issuer": "ext",
                                   "public_keys": [str(pub)]}})
    assert authz is not None and authz.routes() == []

    async def body(client: TestClient[Any, Any]) -> None:
        token = _signed(rsa_key, "RS256", iss="ext")
        assert (await _get(client, "alice/app", "pull", _bearer(token)))[0] == 200

    _run(authz, body)


def test_secrets_not_logged(tmp_path: Path, htpasswd: Path, ec_key: Any, capsys: pytest.CaptureFixture[str]) -> None:
    async def body(client: TestClient[Any, Any]) -> None:
        await _get(client, "alice/app", "pull", _basic("alice", "very-secret-pw"))
        status, data = await _fetch_token(client, ["repository:alice/app:pull"], _basic("alice", "alice-pw"))
        await _get(client, "alice/app", "pull", _bearer(data["token"] + "x"))
        out = capsys.readouterr()
        for secret in ("very-secret-pw", "alice-pw", data["token"].split(".")[2]):
            assert secret not in out.out + out.err

    _run(_token_authz(tmp_path, htpasswd, ec_key), body)


def test_request_account_key_and_json() -> None:
    assert json.loads(Authorizer._body("DENIED", "m", "repository", "r", frozenset({"*", "pull"}))) == {
        "errors": [{"code": "DENIED", "message": "m", "detail": [
            {"Type": "repository", "Name": "r", "Action": "pull"},
            {"Type": "repository", "Name": "r", "Action": "*"}]}]}
