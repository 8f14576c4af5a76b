"""Plays a golden dialogue file (tests/dialogues/*.dlg) against the live
daemon: client lines are sent in blocks, then each expected reply line is
read and compared, exactly as the pure runner does against the session."""

import socket


def sender_zones(path):
    """DNS zones (tests/dnsserver.py) for the sender-domains table the pure
    runner answers from: its mx domains point at the dialogues' own host
    name, so nothing is ever sent anywhere."""
    zones = {"mx.example.test": {"A": ["127.0.0.1"]}}
    answers = {"mx": {"MX": [[10, "mx.example.test"]]}, "null-mx": {"MX": [[0, "."]]},
               "servfail": {"SERVFAIL": True}}
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if words and not words[0].startswith("#"):
                zones[words[0]] = answers[words[1]]
    return zones


def unescape(text):
    out = bytearray()
    i = 0
    simple = {"r": 13, "n": 10, "t": 9, "0": 0, "\\": 92}
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            n = text[i + 1]
            if n == "x":
                out.append(int(text[i + 2:i + 4], 16))
                i += 4
                continue
            out.append(simple.get(n, ord(n)))
            i += 2
            continue
        out += c.encode()
        i += 1
    return bytes(out)


def matches(want, got):
    if want.endswith("*"):
        return got.startswith(want[:-1])
    return want == got


def play(path, port, host="127.0.0.1"):
    with open(path, encoding="utf-8") as f:
        lines = [l.rstrip("\n") for l in f]
    sock = socket.create_connection((host, port), timeout=30)
    buf = b""
    try:
        for lineno, line in enumerate(lines, 1):
            if line.startswith("C: "):
                sock.sendall(line[3:].encode() + b"\r\n")
            elif line.startswith("C> "):
                sock.sendall(unescape(line[3:]))
            elif line.startswith("S: "):
                while b"\n" not in buf:
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise AssertionError("%s:%d: connection closed, expected %r"
                                             % (path, lineno, line[3:]))
                    buf += chunk
                got, buf = buf.split(b"\n", 1)
                got = got.rstrip(b"\r").decode("utf-8", "replace")
                if not matches(line[3:], got):
                    raise AssertionError("%s:%d: expected %r, got %r" % (path, lineno, line[3:], got))
        if buf:
            raise AssertionError("%s: unexpected extra reply %r" % (path, buf))
    finally:
        sock.close()
