"""Choosing the daemon: -H, --context, the environment and the TLS flags; palletd's listen rules."""

from __future__ import annotations

import argparse
import os

import pytest
from pallet import errors
from pallet.client import _context
from pallet.client._endpoint import Endpoint, EndpointError, add_flags, normalize_host, resolve
from pallet.engine import _listen


def _args(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    add_flags(p)
    return p.parse_args(list(argv))


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    for k in list(os.environ):
        if k.startswith("PALLET_"):
            monkeypatch.delenv(k)
    monkeypatch.setenv("PALLET_CONFIG", str(tmp_path))


def _certs(d: str) -> None:
    for n in ("ca.pem", "cert.pem", "key.pem"):
        with open(os.path.join(d, n), "w") as f:
            f.write(n)


def test_default_then_env_then_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve(_args()) == Endpoint("unix:///run/pallet/pallet.sock")
    monkeypatch.setenv("PALLET_HOST", "tcp://h:1")
    assert resolve(_args()).host == "tcp://h:1"
    assert resolve(_args("-H", "unix:///x.sock")).host == "unix:///x.sock"
    assert resolve(_args("-H", "/y.sock")).host == "unix:///y.sock"


def test_default_ports_follow_docker() -> None:
    assert normalize_host("tcp://h", tls=True) == "tcp://h:2376"
    assert normalize_host("h", tls=False) == "tcp://h:2375"
    assert normalize_host("tcp://[::1]:9", tls=True) == "tcp://[::1]:9"
    with pytest.raises(EndpointError):
        normalize_host("http://h:1", tls=False)


def test_tlsverify_reads_the_cert_path(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    d = str(tmp_path)
    _certs(d)
    monkeypatch.setenv("PALLET_CERT_PATH", d)
    ep = resolve(_args("-H", "tcp://h:2376", "--tlsverify"))
    assert ep.tls and ep.ca == f"{d}/ca.pem" and ep.cert == f"{d}/cert.pem" and ep.key == f"{d}/key.pem"
    monkeypatch.setenv("PALLET_TLS_VERIFY", "1")
    assert resolve(_args("-H", "tcp://h:2376")).tls
    monkeypatch.setenv("PALLET_TLS_VERIFY", "0")
    assert not resolve(_args("-H", "tcp://h:2376")).tls


def test_tlsverify_without_a_ca_is_an_error(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PALLET_CERT_PATH", str(tmp_path))
    with pytest.raises(EndpointError, match="needs the CA certificate"):
        resolve(_args("-H", "tcp://h:2376", "--tlsverify"))
    with pytest.raises(EndpointError, match="tcp:// hosts only"):
        resolve(_args("-H", "unix:///s", "--tlscacert", "/x"))


def test_contexts_and_their_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    d = os.path.join(str(tmp_path), "src")
    os.makedirs(d)
    _certs(d)
    _context.save("prod", "", "tcp://prod:2376", {"ca": f"{d}/ca.pem", "cert": f"{d}/cert.pem",
                                                  "key": f"{d}/key.pem"}, True)
    _context.save("other", "", "unix:///other.sock", {}, False)
    ep = resolve(_args("--context", "prod"))
    assert ep.host == "tcp://prod:2376" and ep.tls and ep.context == "prod"
    assert ep.ca.startswith(str(tmp_path)) and "contexts/tls" in ep.ca  # a copy in the store
    _context.set_current("other")
    assert resolve(_args()).host == "unix:///other.sock"
    monkeypatch.setenv("PALLET_CONTEXT", "prod")
    assert resolve(_args()).host == "tcp://prod:2376"
    monkeypatch.setenv("PALLET_HOST", "unix:///env.sock")
    assert resolve(_args()).host == "unix:///env.sock"
    assert resolve(_args("--context", "other")).host == "unix:///other.sock"
    with pytest.raises(EndpointError, match="either specify --host or --context"):
        resolve(_args("-H", "unix:///a", "--context", "other"))
    with pytest.raises(EndpointError, match="does not exist"):
        resolve(_args("--context", "missing"))


def test_context_names_are_checked() -> None:
    for bad in ("default", "-x", "a/b", ""):
        with pytest.raises(EndpointError):
            _context.save(bad, "", "unix:///s", {}, False)
    assert _context.names() == ["default"]


def test_listen_rules(tmp_path: object) -> None:
    plan = _listen.plan
    assert plan(["unix:///s.sock"], None, False, "", "", "")[0].tls is None
    lo = plan(["tcp://127.0.0.1:2375"], None, False, "", "", "")[0]
    assert lo.tls is None and not lo.warning and lo.bind == "127.0.0.1:2375"
    with pytest.raises(errors.InvalidArgument, match="refusing to listen"):
        plan(["tcp://0.0.0.0:2375"], None, False, "", "", "")
    forced = plan(["tcp://0.0.0.0:2375"], False, False, "", "", "")[0]
    assert forced.tls is None and "plain TCP" in forced.warning
    with pytest.raises(errors.InvalidArgument, match="no such file"):
        plan(["tcp://0.0.0.0:2376"], None, True, "/nope/ca.pem", "/nope/c.pem", "/nope/k.pem")
    d = str(tmp_path)
    _certs(d)
    ok = plan(["tcp://0.0.0.0:2376"], None, True, f"{d}/ca.pem", f"{d}/cert.pem", f"{d}/key.pem")[0]
    assert ok.tls is not None and ok.tls.verify and not ok.warning
    for bad in ("tcp://nohost", "http://x:1", "fd://"):
        with pytest.raises(errors.InvalidArgument):
            plan([bad], None, False, "", "", "")
