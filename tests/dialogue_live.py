"""Plays a golden dialogue file (tests/dialogues/*.dlg) against the live
daemon: client lines are sent in blocks, then each expected reply line is
read and compared, exactly as the pure runner does against the session."""

import socket


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
    sock = socket.create_connection((host, port), timeout=10)
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
