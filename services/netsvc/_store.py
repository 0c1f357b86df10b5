"""netsvc's records in SQLite: networks, endpoints (the IPAM state) and sandboxes.

Each row holds a serialized pallet.net.v1 message beside the columns that
queries and constraints need; UNIQUE (network, address) makes handing out an
address twice impossible even if the allocator were wrong.
"""

from __future__ import annotations

import sqlite3

from pallet import errors
from pallet.net.v1 import net_pb2 as pb
from pallet.sqlite import Database

SCHEMA = """
CREATE TABLE IF NOT EXISTS networks (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    last_v4 TEXT,
    last_v6 TEXT,
    data    BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS endpoints (
    id           TEXT PRIMARY KEY,
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    seq          INTEGER NOT NULL,
    ipv4         TEXT,
    ipv6         TEXT,
    data         BLOB NOT NULL,
    UNIQUE (network_id, container_id),
    UNIQUE (network_id, ipv4),
    UNIQUE (network_id, ipv6)
);
CREATE INDEX IF NOT EXISTS endpoints_container ON endpoints (container_id);
CREATE TABLE IF NOT EXISTS sandboxes (
    container_id TEXT PRIMARY KEY,
    data         BLOB NOT NULL
);
"""


def _net(row: sqlite3.Row | tuple) -> pb.Network:
    return pb.Network.FromString(row[0])


def _ep(row: sqlite3.Row | tuple) -> pb.Endpoint:
    return pb.Endpoint.FromString(row[0])


class NetStore:
    def __init__(self, path: str) -> None:
        self.db = Database(path, SCHEMA, foreign_keys=True)

    def close(self) -> None:
        self.db.close()

    # -- networks ------------------------------------------------------------

    def add_network(self, net: pb.Network) -> None:
        try:
            with self.db.tx() as db:
                db.execute("INSERT INTO networks (id, name, data) VALUES (?, ?, ?)",
                           (net.id, net.name, net.SerializeToString()))
        except sqlite3.IntegrityError:
            raise errors.AlreadyExists(f"network with name {net.name} already exists") from None

    def put_network(self, net: pb.Network) -> None:
        with self.db.tx() as db:
            db.execute("UPDATE networks SET data = ? WHERE id = ?", (net.SerializeToString(), net.id))

    def delete_network(self, nid: str) -> None:
        with self.db.tx() as db:
            if db.execute("SELECT 1 FROM endpoints WHERE network_id = ?", (nid,)).fetchone():
                raise errors.FailedPrecondition(f"network {nid} has active endpoints")
            db.execute("DELETE FROM networks WHERE id = ?", (nid,))

    def networks(self) -> list[pb.Network]:
        with self.db.lock:
            rows = self.db.conn.execute("SELECT data FROM networks ORDER BY name").fetchall()
        return [_net(r) for r in rows]

    def network(self, nid: str) -> pb.Network | None:
        with self.db.lock:
            row = self.db.conn.execute("SELECT data FROM networks WHERE id = ?", (nid,)).fetchone()
        return _net(row) if row else None

    def resolve_network(self, ref: str) -> pb.Network:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        with self.db.lock:
            c = self.db.conn
            row = (c.execute("SELECT data FROM networks WHERE id = ?", (ref,)).fetchone()
                   or c.execute("SELECT data FROM networks WHERE name = ?", (ref,)).fetchone())
            if row:
                return _net(row)
            rows = c.execute("SELECT data FROM networks WHERE id LIKE ? || '%'", (ref,)).fetchall() if ref else []
        if len(rows) == 1:
            return _net(rows[0])
        if len(rows) > 1:
            raise errors.InvalidArgument(f"network {ref} is ambiguous ({len(rows)} matches)")
        raise errors.NotFound(f"network {ref} not found")

    # -- endpoints -----------------------------------------------------------

    def taken(self, nid: str) -> tuple[list[str], list[str], str | None, str | None]:
        """Addresses in use on a network, and the last ones handed out."""
        with self.db.lock:
            c = self.db.conn
            rows = c.execute("SELECT ipv4, ipv6 FROM endpoints WHERE network_id = ?", (nid,)).fetchall()
            last = c.execute("SELECT last_v4, last_v6 FROM networks WHERE id = ?", (nid,)).fetchone()
        return ([r[0] for r in rows if r[0]], [r[1] for r in rows if r[1]],
                last[0] if last else None, last[1] if last else None)

    def add_endpoint(self, ep: pb.Endpoint, ipv4: str | None, ipv6: str | None) -> None:
        try:
            with self.db.tx() as db:
                seq = db.execute("SELECT COALESCE(MAX(seq), 0) + 1 FROM endpoints WHERE container_id = ?",
                                 (ep.container_id,)).fetchone()[0]
                db.execute("INSERT INTO endpoints (id, network_id, container_id, seq, ipv4, ipv6, data) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (ep.id, ep.network_id, ep.container_id, seq, ipv4, ipv6, ep.SerializeToString()))
                if ipv4:
                    db.execute("UPDATE networks SET last_v4 = ? WHERE id = ?", (ipv4, ep.network_id))
                if ipv6:
                    db.execute("UPDATE networks SET last_v6 = ? WHERE id = ?", (ipv6, ep.network_id))
        except sqlite3.IntegrityError as exc:
            if "container_id" in str(exc):
                raise errors.AlreadyExists(
                    f"endpoint with name {ep.container_name} already exists in network {ep.network_name}") from None
            raise errors.AlreadyExists(f"Address already in use: {ipv4 or ipv6} on network {ep.network_name}") \
                from None

    def put_endpoint(self, ep: pb.Endpoint) -> None:
        with self.db.tx() as db:
            db.execute("UPDATE endpoints SET data = ? WHERE id = ?", (ep.SerializeToString(), ep.id))

    def delete_endpoint(self, eid: str) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM endpoints WHERE id = ?", (eid,))

    def endpoints(self, *, network_id: str | None = None, container_id: str | None = None) -> list[pb.Endpoint]:
        """Endpoints of a network or container; a container's in the order they were attached."""
        query, args = "SELECT data FROM endpoints", []
        if network_id is not None:
            query, args = query + " WHERE network_id = ?", [network_id]
        elif container_id is not None:
            query, args = query + " WHERE container_id = ?", [container_id]
        with self.db.lock:
            rows = self.db.conn.execute(query + " ORDER BY container_id, seq", args).fetchall()
        return [_ep(r) for r in rows]

    def container_ids(self) -> set[str]:
        with self.db.lock:
            return {r[0] for r in self.db.conn.execute("SELECT DISTINCT container_id FROM endpoints")}

    # -- sandboxes -----------------------------------------------------------

    def put_sandbox(self, sb: pb.Sandbox) -> None:
        with self.db.tx() as db:
            db.execute("INSERT OR REPLACE INTO sandboxes (container_id, data) VALUES (?, ?)",
                       (sb.container_id, sb.SerializeToString()))

    def sandbox(self, cid: str) -> pb.Sandbox | None:
        with self.db.lock:
            row = self.db.conn.execute("SELECT data FROM sandboxes WHERE container_id = ?", (cid,)).fetchone()
        return pb.Sandbox.FromString(row[0]) if row else None

    def sandboxes(self) -> list[pb.Sandbox]:
        with self.db.lock:
            rows = self.db.conn.execute("SELECT data FROM sandboxes").fetchall()
        return [pb.Sandbox.FromString(r[0]) for r in rows]

    def delete_sandbox(self, cid: str) -> None:
        with self.db.tx() as db:
            db.execute("DELETE FROM sandboxes WHERE container_id = ?", (cid,))
