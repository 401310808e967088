"""A deliberately fragile DICOM node, for the fuzzer's tests: run ``python fragile_peer.py PORT``.

It speaks just enough of PS3.8 to pass a liveness check: it accepts any association
proposing Verification (Implicit VR Little Endian), answers C-ECHO and A-RELEASE, and ends
anything else with A-ABORT. It has one bug, the classic one of hand-written parsers: it trusts
the length of a Presentation Context item. An A-ASSOCIATE-RQ whose Presentation Context item
runs past the end of the PDU makes it "read out of bounds", which here is a real SIGSEGV: the
process dies and the port closes. Everything else malformed is refused cleanly.

Listens on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
import sys
import threading

VERIFICATION = b"1.2.840.10008.1.1"
IMPLICIT_LE = b"1.2.840.10008.1.2"
IMPLEMENTATION_UID = b"2.25.329800735698586629295641978511506172918"
VERSION_NAME = b"FRAGILE_PEER"


def item(kind: int, value: bytes) -> bytes:
    return struct.pack(">BxH", kind, len(value)) + value


def pdu(kind: int, body: bytes) -> bytes:
    return struct.pack(">BxL", kind, len(body)) + body


def recv_exact(conn: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def strip(value: bytes) -> bytes:
    return value.rstrip(b"\0 ")


def associate_ac(body: bytes) -> bytes | None:
    """The A-ASSOCIATE-AC for an A-ASSOCIATE-RQ body; None to abort."""
    if len(body) < 68:
        return None
    contexts: list[tuple[int, bytes, list[bytes]]] = []
    off = 68
    while off < len(body):
        if off + 4 > len(body):
            return None
        kind = body[off]
        length = int.from_bytes(body[off + 2:off + 4], "big")
        if kind == 0x20 and off + 4 + length > len(body):
            # THE BUG: the item is copied with the length it claims
            os.kill(os.getpid(), signal.SIGSEGV)
        if off + 4 + length > len(body):
            return None
        value = body[off + 4:off + 4 + length]
        if kind == 0x20:
            if len(value) < 4:
                return None
            abstract, transfer = b"", []
            i = 4
            while i + 4 <= len(value):
                sub = value[i]
                n = int.from_bytes(value[i + 2:i + 4], "big")
                if i + 4 + n > len(value):
                    return None
                if sub == 0x30:
                    abstract = strip(value[i + 4:i + 4 + n])
                elif sub == 0x40:
                    transfer.append(strip(value[i + 4:i + 4 + n]))
                i += 4 + n
            contexts.append((value[0], abstract, transfer))
        off += 4 + length
    if not contexts:
        return None
    items = item(0x10, b"1.2.840.10008.3.1.1.1")
    for cid, abstract, transfer in contexts:
        ok = abstract == VERIFICATION and IMPLICIT_LE in transfer
        items += item(0x21, bytes([cid, 0, 0 if ok else 3, 0]) + item(0x40, IMPLICIT_LE))
    items += item(0x50, item(0x51, struct.pack(">L", 16384)) + item(0x52, IMPLEMENTATION_UID)
                  + item(0x55, VERSION_NAME))
    return body[:4] + body[4:36] + bytes(32) + items


def echo_rsp(command: bytes) -> bytes | None:
    elements: dict[int, bytes] = {}
    i = 0
    while i + 8 <= len(command):
        group, element, length = struct.unpack_from("<HHL", command, i)
        if group != 0 or i + 8 + length > len(command):
            return None
        elements[element] = command[i + 8:i + 8 + length]
        i += 8 + length
    if elements.get(0x0100) != b"\x30\x00":
        return None
    fields = [(0x0002, VERIFICATION), (0x0100, b"\x30\x80"),
              (0x0120, elements.get(0x0110, b"\x01\x00")), (0x0800, b"\x01\x01"),
              (0x0900, b"\x00\x00")]
    body = b"".join(struct.pack("<HHL", 0, e, len(v)) + v for e, v in fields)
    return struct.pack("<HHL", 0, 0, 4) + struct.pack("<L", len(body)) + body


def serve(conn: socket.socket) -> None:
    conn.settimeout(5)
    associated = False
    try:
        while True:
            kind, length = struct.unpack(">BxL", recv_exact(conn, 6))
            if kind not in range(1, 8) or length > 1 << 20:
                conn.sendall(pdu(0x07, bytes(4)))
                return
            body = recv_exact(conn, length)
            if kind == 0x01 and not associated:
                ac = associate_ac(body)
                if ac is None:
                    conn.sendall(pdu(0x07, bytes(4)))
                    return
                conn.sendall(pdu(0x02, ac))
                associated = True
            elif kind == 0x04 and associated and len(body) >= 6:
                pdv_len, cid, ctrl = struct.unpack_from(">LBB", body)
                rsp = echo_rsp(body[6:4 + pdv_len]) if ctrl & 1 else None
                if rsp is None:
                    conn.sendall(pdu(0x07, bytes(4)))
                    return
                conn.sendall(pdu(0x04, struct.pack(">LBB", len(rsp) + 2, cid, 0x03) + rsp))
            elif kind == 0x05 and associated:
                conn.sendall(pdu(0x06, bytes(4)))
                return
            else:
                conn.sendall(pdu(0x07, bytes(4)))
                return
    except (OSError, ConnectionError, struct.error):
        return
    finally:
        conn.close()


def main() -> None:
    port = int(sys.argv[1])
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(16)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
