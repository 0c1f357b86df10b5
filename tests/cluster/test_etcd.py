"""The etcd v3 client (pallet.engine.cluster._etcd) and election against a real etcd."""

from __future__ import annotations

import threading
import time

import pytest
from pallet.engine.cluster._election import Election, KeepAlive
from pallet.engine.cluster._etcd import (
    Compacted,
    Compare,
    Etcd,
    EtcdError,
    Event,
    Op,
    Unavailable,
    parse_endpoints,
    prefix_end,
)

from tests.cluster.conftest import EtcdServer, free_port


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> Etcd:
    return Etcd([etcd_server.endpoint], timeout=3)


def wait_for(cond, timeout: float = 10, step: float = 0.05) -> float:  # type: ignore[no-untyped-def]
    start = time.monotonic()
    while not cond():
        if time.monotonic() - start > timeout:
            raise AssertionError("timed out")
        time.sleep(step)
    return time.monotonic() - start


def test_endpoints_and_prefix_end() -> None:
    eps = parse_endpoints(["etcd://h1:2379,h2:2380", "http://h3", "h4:1"])
    assert [str(e) for e in eps] == ["http://h1:2379", "http://h2:2380", "http://h3:2379", "http://h4:1"]
    assert str(parse_endpoints("etcd://h1", tls=True)[0]) == "https://h1:2379"
    with pytest.raises(ValueError):
        parse_endpoints("ftp://x")
    assert prefix_end("a/") == b"a0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"") == b"\0"


def test_put_get_delete(etcd: Etcd) -> None:
    assert etcd.get("/k") is None
    r1 = etcd.put("/k", b"v1")
    r2 = etcd.put("/k", "v2")
    assert r2 == r1 + 1
    kv = etcd.get("/k")
    assert kv is not None
    assert (kv.key, kv.value, kv.create_revision, kv.mod_revision, kv.version, kv.lease) == ("/k", b"v2", r1, r2, 2, 0)
    assert etcd.get("/k", revision=r1).value == b"v1"  # type: ignore[union-attr]
    etcd.put(b"/bin", bytes(range(256)))
    assert etcd.get("/bin").value == bytes(range(256))  # type: ignore[union-attr]
    assert etcd.delete("/k") is True
    assert etcd.delete("/k") is False
    assert etcd.get("/k") is None


def test_prefix(etcd: Etcd) -> None:
    last = 0
    for k in ("/p/b", "/p/a", "/p/c/d", "/p0", "/q"):
        last = etcd.put(k, k)
    kvs, rev = etcd.get_prefix("/p/")
    assert [kv.key for kv in kvs] == ["/p/a", "/p/b", "/p/c/d"]
    assert rev == last  # the store's revision, not the newest key's under the prefix
    assert etcd.delete_prefix("/p/") == 3
    assert etcd.get_prefix("/p/")[0] == []
    assert [kv.key for kv in etcd.get_prefix("")[0]] == ["/p0", "/q"]


def test_txn(etcd: Etcd) -> None:
    res = etcd.txn([Compare.version("/t", "=", 0)], [Op.put("/t", b"1"), Op.get("/t")], [Op.get("/t")])
    assert res.succeeded
    assert [kv.value for kv in res.responses[1].kvs] == [b"1"]
    res = etcd.txn([Compare.version("/t", "=", 0)], [Op.put("/t", b"2")], [Op.get("/t")])
    assert not res.succeeded
    assert res.responses[0].kvs[0].value == b"1"
    res = etcd.txn([Compare.value("/t", "=", b"1"), Compare.version("/t", ">", 0)],
                   [Op.put("/t/x", b""), Op.put("/t/y", b""), Op.get("/t/", prefix=True)])
    assert res.succeeded and [kv.key for kv in res.responses[2].kvs] == ["/t/x", "/t/y"]
    res = etcd.txn([], [Op.delete("/t/", prefix=True)])  # etcd refuses a put and a delete of one key in one txn
    assert res.succeeded and res.responses[0].deleted == 2
    assert not etcd.txn([Compare.value("/t", "!=", b"1")], [Op.delete("/t")]).succeeded
    assert etcd.get("/t") is not None


def test_cas_put(etcd: Etcd) -> None:
    assert etcd.cas_put("/c", b"a", 0)
    assert not etcd.cas_put("/c", b"b", 0)  # must not exist
    kv = etcd.get("/c")
    assert kv is not None
    # Two writers read the same revision: the first swap wins, the second loses.
    assert etcd.cas_put("/c", b"first", kv.mod_revision)
    assert not etcd.cas_put("/c", b"second", kv.mod_revision)
    assert etcd.get("/c").value == b"first"  # type: ignore[union-attr]


def test_cas_concurrent_increments(etcd_server: EtcdServer) -> None:
    etcd = Etcd([etcd_server.endpoint])
    etcd.put("/n", b"0")
    losses = [0]

    def worker() -> None:
        client = Etcd([etcd_server.endpoint])
        for _ in range(15):
            while True:
                kv = client.get("/n")
                assert kv is not None
                if client.cas_put("/n", str(int(kv.value) + 1), kv.mod_revision):
                    break
                losses[0] += 1

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert etcd.get("/n").value == b"60"  # type: ignore[union-attr]
    assert losses[0] > 0  # writers did collide, and the losers retried


def test_lease_expires_with_its_keys(etcd: Etcd) -> None:
    lease = etcd.lease_grant(2)
    assert lease.ttl == 2 and lease.id > 0
    etcd.put("/l", b"x", lease=lease.id)
    assert etcd.get("/l").lease == lease.id  # type: ignore[union-attr]
    assert 0 < etcd.lease_ttl(lease.id) <= 2
    took = wait_for(lambda: etcd.get("/l") is None, timeout=6)
    assert took < 4
    assert etcd.lease_keepalive(lease.id) == 0
    assert etcd.lease_ttl(lease.id) == -1
    with pytest.raises(EtcdError) as err:
        etcd.put("/l", b"x", lease=lease.id)
    assert err.value.code == 5


def test_keepalive_keeps_the_key(etcd: Etcd) -> None:
    lease = etcd.lease_grant(2)
    etcd.put("/ka", b"x", lease=lease.id)
    lost = threading.Event()
    keep = KeepAlive(etcd, lease, on_lost=lost.set)
    keep.start()
    time.sleep(5)
    assert etcd.get("/ka") is not None and not lost.is_set()
    keep.stop()
    wait_for(lambda: etcd.get("/ka") is None, timeout=6)
    assert not lost.is_set()


def test_keepalive_reports_loss(etcd: Etcd) -> None:
    lease = etcd.lease_grant(3)
    lost = threading.Event()
    keep = KeepAlive(etcd, lease, on_lost=lost.set)
    keep.start()
    etcd.lease_revoke(lease.id)
    etcd.lease_revoke(lease.id)  # twice is fine
    assert lost.wait(3)
    assert keep.lost
    keep.join(1)
    assert not keep.is_alive()


def test_keepalive_rides_out_an_etcd_restart(etcd_server: EtcdServer, etcd: Etcd) -> None:
    lease = etcd.lease_grant(6)
    etcd.put("/kr", b"x", lease=lease.id)
    lost = threading.Event()
    keep = KeepAlive(etcd, lease, on_lost=lost.set)
    keep.start()
    etcd_server.restart()
    time.sleep(4)
    assert not lost.is_set()
    assert etcd.get("/kr") is not None
    keep.stop(revoke=True)
    assert etcd.get("/kr") is None


def test_watch_in_order(etcd: Etcd) -> None:
    start = etcd.put("/other", b"") + 1
    etcd.put("/w/a", b"1")
    etcd.put("/w/b", b"2")
    etcd.put("/wx", b"not under /w/")
    etcd.delete("/w/a")
    with etcd.watch_prefix("/w/", start, prev_kv=True) as w:
        events = [next(w) for _ in range(3)]
        assert [(e.type, e.kv.key) for e in events] == [("PUT", "/w/a"), ("PUT", "/w/b"), ("DELETE", "/w/a")]
        assert events[0].kv.value == b"1" and events[0].prev_kv is None
        assert events[2].prev_kv is not None and events[2].prev_kv.value == b"1"
        assert events[2].kv.mod_revision == w.revision == start + 3
        rev = etcd.put("/w/c", b"3")
        ev = next(w)
        assert (ev.type, ev.kv.key, ev.kv.value, ev.kv.mod_revision) == ("PUT", "/w/c", b"3", rev)


def test_watch_from_now_and_close_from_another_thread(etcd: Etcd) -> None:
    w = etcd.watch_prefix("/n/")  # from now: the watch exists once this returns
    etcd.put("/n/1", b"")
    seen: list[Event] = []
    t = threading.Thread(target=lambda: seen.extend(w))
    t.start()
    wait_for(lambda: len(seen) == 1)
    w.close()
    t.join(3)
    assert not t.is_alive()
    assert [e.kv.key for e in seen] == ["/n/1"]


def test_watch_resumes_after_etcd_restart(etcd_server: EtcdServer, etcd: Etcd) -> None:
    start = etcd.put("/r/1", b"a")
    w = etcd.watch_prefix("/r/", start)
    assert next(w).kv.key == "/r/1"
    etcd_server.restart()
    etcd.put("/r/2", b"b")
    etcd.delete("/r/1")
    got: list[tuple[str, str]] = []
    t = threading.Thread(target=lambda: got.extend((e.type, e.kv.key) for e in w))
    t.start()
    wait_for(lambda: len(got) >= 2)
    etcd_server.stop()  # down for a while: the watch keeps trying
    time.sleep(1)
    etcd_server.start()
    etcd.put("/r/3", b"c")
    wait_for(lambda: len(got) >= 3)
    w.close()
    t.join(3)
    assert got == [("PUT", "/r/2"), ("DELETE", "/r/1"), ("PUT", "/r/3")]  # no duplicates, no gap


def test_compacted(etcd: Etcd) -> None:
    first = etcd.put("/z", b"1")
    for i in range(5):
        etcd.put("/z", str(i))
    last = etcd.put("/z", b"last")
    etcd.compact(last - 1)
    w = etcd.watch_prefix("/z", first)
    with pytest.raises(Compacted) as err:
        next(w)
    assert err.value.revision == last - 1
    assert list(w) == []  # closed by the error
    with pytest.raises(Compacted):
        etcd.get("/z", revision=first)
    # Re-list and watch from there: fine.
    kvs, rev = etcd.get_prefix("/z")
    with etcd.watch_prefix("/z", rev + 1) as w:
        etcd.put("/z", b"after")
        assert next(w).kv.value == b"after"


def test_failover_to_the_next_endpoint(etcd_server: EtcdServer) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    etcd = Etcd([dead, etcd_server.endpoint], timeout=2)
    t = time.monotonic()
    etcd.put("/f", b"1")
    assert etcd.get("/f").value == b"1"  # type: ignore[union-attr]
    assert etcd.status()["version"].startswith("3.")
    with etcd.watch_prefix("/f", 1) as w:
        assert next(w).kv.key == "/f"
    assert time.monotonic() - t < 2
    alone = Etcd(f"etcd://127.0.0.1:{free_port()}", timeout=1)
    with pytest.raises(Unavailable):
        alone.get("/f")
    with pytest.raises(Unavailable):
        alone.watch_prefix("/f", retry_for=0.5)


def test_a_write_that_breaks_after_sending_is_not_repeated(etcd_server: EtcdServer) -> None:
    """A server that accepts and then hangs: the read times out; a write raises, a read fails over."""
    import socket

    with socket.socket() as hang:
        hang.bind(("127.0.0.1", 0))
        hang.listen()
        etcd = Etcd([f"http://127.0.0.1:{hang.getsockname()[1]}", etcd_server.endpoint], timeout=0.5)
        with pytest.raises(Unavailable, match="outcome unknown"):
            etcd.put("/x", b"1")
        assert etcd.get("/x") is None  # the read moved on to the live member
        assert etcd.put("/x", b"1") > 0  # which is now the preferred one


def test_election(etcd_server: EtcdServer) -> None:
    a_client, b_client = Etcd([etcd_server.endpoint]), Etcd([etcd_server.endpoint])
    lease_a, lease_b = a_client.lease_grant(10), b_client.lease_grant(10)
    a = Election(a_client, "/el", b"node-a", lease_a)
    b = Election(b_client, "/el", b"node-b", lease_b)
    assert a.campaign(timeout=5)
    assert a.is_leader()
    assert not b.campaign(timeout=0.3)  # withdrawn after the timeout
    assert b_client.get(b.key) is None

    observed: list[bytes | None] = []
    obs = a.observe()
    threading.Thread(target=lambda: observed.extend(kv.value if kv else None for kv in obs), daemon=True).start()
    wait_for(lambda: observed == [b"node-a"])

    won: list[float] = []

    def campaign_b() -> None:
        if b.campaign(timeout=15):
            won.append(time.monotonic())

    t = threading.Thread(target=campaign_b)
    t.start()
    wait_for(lambda: b_client.get(b.key) is not None)
    time.sleep(0.3)
    assert not won and a.leader().value == b"node-a"  # type: ignore[union-attr]
    revoked = time.monotonic()
    a_client.lease_revoke(lease_a.id)
    t.join(15)
    assert won, "b did not become leader"
    print(f"leader failover after revoke: {won[0] - revoked:.3f}s")
    assert won[0] - revoked < 3
    assert b.is_leader() and not a.is_leader()
    assert a.leader().value == b"node-b"  # type: ignore[union-attr]
    assert not a.campaign(timeout=1)  # a's lease is gone: it cannot even join
    wait_for(lambda: observed[-1] == b"node-b")
    assert b.proclaim(b"node-b v2")
    wait_for(lambda: observed[-1] == b"node-b v2")
    b.resign()
    wait_for(lambda: observed[-1] is None)
    obs.close()
    assert observed == [b"node-a", b"node-b", b"node-b v2", None]


def test_election_leader_lease_expires(etcd_server: EtcdServer) -> None:
    etcd = Etcd([etcd_server.endpoint])
    lease_a, lease_b = etcd.lease_grant(2), etcd.lease_grant(30)
    a = Election(etcd, "/el2", b"a", lease_a)
    b = Election(etcd, "/el2", b"b", lease_b)
    assert a.campaign(timeout=2)
    t0 = time.monotonic()
    assert b.campaign(timeout=10)  # a stopped renewing: its lease runs out
    took = time.monotonic() - t0
    print(f"leader failover on lease expiry (ttl 2): {took:.3f}s")
    assert took < 4
