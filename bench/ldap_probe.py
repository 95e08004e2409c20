#!/usr/bin/env python3
"""LDAPS bind+search load generator, standard library only (runs inside a container).

    ldap_probe.py --address A --server-name N --cafile F --bind-dn DN
                  --password-file P --base DN --uid U [--seconds S] [--workers W]
                  [--mode connect|session]

mode connect: every operation opens a new TLS connection (certificate and
name verified), binds, searches (uid=U) and unbinds: what Keycloak does when
it checks a password. mode session: one connection per worker, then bind +
search repeatedly (a pooled connection). Prints one JSON object: operations,
errors, seconds, ops_per_s, latency percentiles in ms.

Used by bench/ldap_path.py; the LDAP messages are encoded by hand (BER) so
that nothing needs installing in the container.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import ssl
import statistics
import time
from pathlib import Path


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _tlv(tag: int, value: bytes) -> bytes:
    return bytes([tag]) + _length(len(value)) + value


def _int(tag: int, n: int) -> bytes:
    return _tlv(tag, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big"))


def _message(msgid: int, op: bytes) -> bytes:
    return _tlv(0x30, _int(0x02, msgid) + op)


def bind_request(msgid: int, dn: str, password: str) -> bytes:
    op = _int(0x02, 3) + _tlv(0x04, dn.encode()) + _tlv(0x80, password.encode())
    return _message(msgid, _tlv(0x60, op))


def search_request(msgid: int, base: str, uid: str) -> bytes:
    equality = _tlv(0xA3, _tlv(0x04, b"uid") + _tlv(0x04, uid.encode()))
    attributes = _tlv(0x30, _tlv(0x04, b"mail") + _tlv(0x04, b"memberOf"))
    op = (
        _tlv(0x04, base.encode())
        + _int(0x0A, 2)  # wholeSubtree
        + _int(0x0A, 0)  # neverDerefAliases
        + _int(0x02, 0)
        + _int(0x02, 10)
        + _tlv(0x01, b"\x00")
        + equality
        + attributes
    )
    return _message(msgid, _tlv(0x63, op))


UNBIND = _message(99, b"\x42\x00")


class Connection:
    def __init__(self, args: argparse.Namespace, context: ssl.SSLContext) -> None:
        raw = socket.create_connection((args.address, 636), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname=args.server_name)
        self.buffer = b""

    def _read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def receive(self) -> tuple[int, bytes]:
        """One LDAPMessage: (protocolOp tag, protocolOp value)."""
        header = self._read(2)
        length = header[1]
        if length & 0x80:
            length = int.from_bytes(self._read(length & 0x7F), "big")
        body = self._read(length)
        msgid_len = body[1]
        op = body[2 + msgid_len :]
        op_len, offset = op[1], 2
        if op_len & 0x80:
            offset += op_len & 0x7F
        return op[0], op[offset:]

    @staticmethod
    def result_code(value: bytes) -> int:
        return value[2]  # ENUMERATED resultCode, first element

    def bind(self, dn: str, password: str) -> None:
        self.sock.sendall(bind_request(1, dn, password))
        tag, value = self.receive()
        if tag != 0x61 or self.result_code(value) != 0:
            raise RuntimeError(f"bind failed (tag {tag:#x}, code {self.result_code(value)})")

    def search(self, base: str, uid: str) -> int:
        self.sock.sendall(search_request(2, base, uid))
        entries = 0
        while True:
            tag, value = self.receive()
            if tag == 0x64:
                entries += 1
            elif tag == 0x65:
                if self.result_code(value) != 0:
                    raise RuntimeError(f"search failed (code {self.result_code(value)})")
                return entries

    def close(self) -> None:
        try:
            self.sock.sendall(UNBIND)
        finally:
            self.sock.close()


def worker(args: argparse.Namespace) -> tuple[int, int, list[float]]:
    context = ssl.create_default_context(cafile=args.cafile)
    password = Path(args.password_file).read_text(encoding="utf-8").strip()
    done, errors, latencies = 0, 0, []
    deadline = time.monotonic() + args.seconds
    session = None
    while time.monotonic() < deadline:
        start = time.monotonic()
        try:
            if args.mode == "connect" or session is None:
                session = Connection(args, context)
            session.bind(args.bind_dn, password)
            if session.search(args.base, args.uid) != 1:
                raise RuntimeError("expected exactly one entry")
            if args.mode == "connect":
                session.close()
                session = None
            done += 1
            latencies.append((time.monotonic() - start) * 1000)
        except (OSError, RuntimeError, ConnectionError):
            errors += 1
            session = None
    if session is not None:
        session.close()
    return done, errors, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("address", "server-name", "cafile", "bind-dn", "password-file", "base", "uid"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--mode", choices=["connect", "session"], default="connect")
    args = parser.parse_args()
    start = time.monotonic()
    with multiprocessing.Pool(args.workers) as pool:
        results = pool.map(worker, [args] * args.workers)
    seconds = time.monotonic() - start
    done = sum(r[0] for r in results)
    latencies = sorted(ms for r in results for ms in r[2])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    print(
        json.dumps(
            {
                "operations": done,
                "errors": sum(r[1] for r in results),
                "seconds": round(seconds, 2),
                "ops_per_s": round(done / args.seconds, 1),
                "p50_ms": round(quantiles[49], 2),
                "p95_ms": round(quantiles[94], 2),
            }
        )
    )


if __name__ == "__main__":
    main()
