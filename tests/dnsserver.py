#!/usr/bin/env python3
"""A small authoritative DNS server for tests, standard library only.

Speaks the DNS wire protocol (RFC 1035 4) over UDP and TCP (RFC 1035 4.2.2:
two-octet length prefix, several queries per connection) on one loopback
address and port. It only ever binds loopback addresses.

Zones are a dict (or a JSON file holding one) from owner name to records:

    {"example.org":     {"MX": [[10, "mx1.example.org"], [20, "mx2.example.org"]]},
     "mx1.example.org": {"A": ["127.0.0.2"], "AAAA": ["::1"]},
     "www.example.org": {"CNAME": "mx1.example.org"},
     "null.test":       {"MX": [[0, "."]]},
     "broken.test":     {"SERVFAIL": true},
     "refused.test":    {"REFUSED": true},
     "slow.test":       {"DROP": true},
     "half.test":       {"A": ["127.0.0.5"], "DROP": ["AAAA"]}}

Answers: names not in the zones -> NXDOMAIN; a name without the asked type ->
NOERROR with no answer (NODATA); CNAMEs are followed inside the zones (at
most 8 links) and every link is put in the answer. SERVFAIL, REFUSED and DROP
(no reply at all) apply to every type when true, or to the listed types.
Replies set QR and AA, echo ID, opcode, RD and the question, and leave RA
off. Answer names are written uncompressed; query names may be compressed.

Module use:
    srv = DNSServer(zones, "127.0.0.1", 0)   # port 0: pick a free one
    srv.start(); srv.port                    # same port for UDP and TCP
    srv.set_zones(other); srv.queries        # [(name, type), ...] seen (latest 10000)
    srv.stop()
Command line:
    python3 tests/dnsserver.py --listen 127.0.0.1:5353 --zone zone.json
prints "listening HOST PORT" once both sockets are bound, runs until
SIGTERM/SIGINT (or until stdin closes, with --exit-on-eof).
"""

import argparse
import ipaddress
import json
import selectors
import signal
import socket
import struct
import sys
import threading

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28}
TYPE_NAMES = {v: k for k, v in TYPES.items()}
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TTL = 300
MAX_CNAME = 8
MAX_MSG = 65535
MAX_TCP_CONNS = 64
MAX_LOG = 10000  # queries remembered


class FormatError(Exception):
    pass


def norm(name):
    return name.rstrip(".").lower() if name not in (".", "") else ""


def read_name(msg, off):
    """Reads a possibly compressed name (RFC 1035 4.1.4) at off; returns
    (name, offset after the name in the original position)."""
    labels, end, jumps = [], None, 0
    while True:
        if off >= len(msg):
            raise FormatError("name runs past the message")
        n = msg[off]
        if n & 0xC0 == 0xC0:
            if off + 1 >= len(msg) or jumps > 32:
                raise FormatError("bad compression pointer")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            jumps += 1
        elif n & 0xC0:
            raise FormatError("unknown label type")
        elif n == 0:
            return ".".join(labels), (end if end is not None else off + 1)
        else:
            if off + 1 + n > len(msg):
                raise FormatError("label runs past the message")
            labels.append(msg[off + 1:off + 1 + n].decode("ascii", "replace"))
            off += 1 + n


def encode_name(name):
    out = b""
    for label in norm(name).split(".") if norm(name) else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError("bad label in %r" % name)
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def rdata(rtype, value):
    if rtype == "A":
        return socket.inet_pton(socket.AF_INET, value)
    if rtype == "AAAA":
        return socket.inet_pton(socket.AF_INET6, value)
    if rtype == "MX":
        return struct.pack("!H", int(value[0])) + encode_name(value[1])
    if rtype in ("CNAME", "NS", "PTR"):
        return encode_name(value)
    if rtype == "TXT":
        raw = value.encode()
        return b"".join(bytes([len(raw[i:i + 255])]) + raw[i:i + 255]
                        for i in range(0, max(len(raw), 1), 255))
    raise ValueError("unsupported type %s" % rtype)


def rr(owner, rtype, value):
    data = rdata(rtype, value)
    return encode_name(owner) + struct.pack("!HHIH", TYPES[rtype], 1, TTL, len(data)) + data


def applies(flag, qtype_name):
    return flag is True or (isinstance(flag, list) and qtype_name in flag)


class DNSServer:
    def __init__(self, zones, host="127.0.0.1", port=0):
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("dnsserver binds loopback addresses only, not %s" % host)
        self.host, self.port = host, port
        self.queries = []
        self._lock = threading.Lock()
        self._zones = {}
        self.set_zones(zones)
        self._thread = None
        self._udp = self._tcp = None
        self._wake_r = self._wake_w = None
        self._conns = {}

    def set_zones(self, zones):
        table = {norm(k): v for k, v in zones.items()}
        with self._lock:
            self._zones = table

    # ---- answering ----

    def answer(self, query):
        """Returns the reply to one query message, or None to send nothing."""
        if len(query) < 12:
            return None
        qid, flags, qd = struct.unpack("!HHH", query[:6])
        if flags & 0x8000:
            return None  # a response, not a query
        opcode, rd = (flags >> 11) & 0xF, flags & 0x0100
        try:
            if qd != 1:
                raise FormatError("need exactly one question")
            qname, off = read_name(query, 12)
            if off + 4 > len(query):
                raise FormatError("short question")
            qtype, _qclass = struct.unpack("!HH", query[off:off + 4])
            question = query[12:off + 4]
        except FormatError:
            return self._header(qid, opcode, rd, FORMERR, 0, 0)
        with self._lock:
            if len(self.queries) >= MAX_LOG:
                del self.queries[:MAX_LOG // 2]
            self.queries.append((norm(qname), TYPE_NAMES.get(qtype, str(qtype))))
            zones = self._zones
        if opcode != 0:
            return self._header(qid, opcode, rd, NOTIMP, 1, 0) + question
        result = self.resolve(zones, norm(qname), TYPE_NAMES.get(qtype))
        if result is None:
            return None
        rcode, answers = result
        return self._header(qid, opcode, rd, rcode, 1, len(answers)) + question + b"".join(answers)

    @staticmethod
    def _header(qid, opcode, rd, rcode, qd, an):
        flags = 0x8000 | (opcode << 11) | 0x0400 | rd | rcode  # QR, AA; RA off
        return struct.pack("!HHHHHH", qid, flags, qd, an, 0, 0)

    @staticmethod
    def resolve(zones, name, qtype):
        """(rcode, [rr bytes]) or None for DROP."""
        answers = []
        for _ in range(MAX_CNAME + 1):
            node = zones.get(name)
            if node is None:
                return NXDOMAIN, answers
            if applies(node.get("DROP"), qtype):
                return None
            if applies(node.get("SERVFAIL"), qtype):
                return SERVFAIL, []
            if applies(node.get("REFUSED"), qtype):
                return REFUSED, []
            if qtype in node:
                values = node[qtype]
                if qtype == "CNAME" or not isinstance(values, list):
                    values = [values]
                answers += [rr(name, qtype, v) for v in values]
                return NOERROR, answers
            if "CNAME" not in node:
                return NOERROR, answers
            answers.append(rr(name, "CNAME", node["CNAME"]))
            name = norm(node["CNAME"])
        return SERVFAIL, []

    # ---- sockets ----

    def start(self):
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        for _ in range(20):
            udp = socket.socket(family, socket.SOCK_DGRAM)
            udp.bind((self.host, self.port))
            port = udp.getsockname()[1]
            tcp = socket.socket(family, socket.SOCK_STREAM)
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                tcp.bind((self.host, port))
            except OSError:
                udp.close()
                tcp.close()
                if self.port:
                    raise
                continue
            break
        else:
            raise OSError("no port free for both UDP and TCP")
        tcp.listen(16)
        udp.setblocking(False)
        tcp.setblocking(False)
        self._udp, self._tcp, self.port = udp, tcp, port
        self._wake_r, self._wake_w = socket.socketpair()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="dnsserver", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        if self._thread is None:
            return
        self._stopping = True
        self._wake_w.send(b"x")
        self._thread.join(10)
        self._thread = None
        for s in [self._udp, self._tcp, self._wake_r, self._wake_w] + list(self._conns):
            s.close()
        self._conns = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def _run(self):
        sel = selectors.DefaultSelector()
        sel.register(self._udp, selectors.EVENT_READ, "udp")
        sel.register(self._tcp, selectors.EVENT_READ, "listen")
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        while not self._stopping:
            for key, _ in sel.select(1.0):
                if key.data == "udp":
                    self._on_udp()
                elif key.data == "listen":
                    self._on_accept(sel)
                elif key.data == "conn":
                    self._on_conn(sel, key.fileobj)
        sel.close()

    def _on_udp(self):
        try:
            msg, peer = self._udp.recvfrom(MAX_MSG)
        except (BlockingIOError, InterruptedError):
            return
        reply = self.answer(msg)
        if reply is not None:
            try:
                self._udp.sendto(reply, peer)
            except OSError:
                pass

    def _on_accept(self, sel):
        try:
            conn, _ = self._tcp.accept()
        except (BlockingIOError, InterruptedError):
            return
        if len(self._conns) >= MAX_TCP_CONNS:
            conn.close()
            return
        conn.setblocking(False)
        self._conns[conn] = b""
        sel.register(conn, selectors.EVENT_READ, "conn")

    def _drop_conn(self, sel, conn):
        sel.unregister(conn)
        self._conns.pop(conn, None)
        conn.close()

    def _on_conn(self, sel, conn):
        try:
            data = conn.recv(MAX_MSG + 2)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop_conn(sel, conn)
            return
        buf = self._conns[conn] + data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
            n = struct.unpack("!H", buf[:2])[0]
            reply = self.answer(buf[2:2 + n])
            buf = buf[2 + n:]
            if reply is not None:
                try:
                    conn.setblocking(True)
                    conn.settimeout(5)
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
                    conn.setblocking(False)
                except OSError:
                    self._drop_conn(sel, conn)
                    return
        self._conns[conn] = buf


def parse_listen(text):
    host, sep, port = text.rpartition(":")
    if not sep:
        raise argparse.ArgumentTypeError("expected HOST:PORT")
    return host.strip("[]"), int(port)


def main():
    ap = argparse.ArgumentParser(description="authoritative test DNS server (loopback only)")
    ap.add_argument("--listen", type=parse_listen, default=("127.0.0.1", 5353),
                    help="HOST:PORT or [V6]:PORT; port 0 picks a free one")
    ap.add_argument("--zone", required=True, help="zones as a JSON file")
    ap.add_argument("--exit-on-eof", action="store_true", help="stop when stdin closes")
    args = ap.parse_args()
    with open(args.zone) as f:
        zones = json.load(f)
    srv = DNSServer(zones, *args.listen).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("listening %s %d" % (srv.host, srv.port), flush=True)
    if args.exit_on_eof:
        threading.Thread(target=lambda: (sys.stdin.buffer.read(), done.set()), daemon=True).start()
    while not done.wait(1.0):
        pass
    srv.stop()


if __name__ == "__main__":
    main()
