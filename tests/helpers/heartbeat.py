# SPDX-License-Identifier: Apache-2.0
# A MemberHeartbeat (proto/control.proto) sent to weir-controller's socket as a weir-node sends
# it, encoded by hand (a second implementation of the wire format): import it and call
# beat(sock, node, url, node_id); returns the Response's bytes.
import socket
import struct


def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        out += bytes([b | (0x80 if n else 0)])
        if not n:
            return out


def field(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def beat(sock, node, url, node_id=None):
    hb = field(1, node.encode()) + field(2, url.encode())
    if node_id:
        hb += field(4, node_id.encode())
    req = field(24, hb)  # Request.member_heartbeat
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock)
    s.sendall(struct.pack(">I", len(req)) + req)
    n = struct.unpack(">I", s.recv(4, socket.MSG_WAITALL))[0]
    return s.recv(n, socket.MSG_WAITALL) if n else b""
