#!/usr/bin/env python3
"""Captures Kafka response (and Produce request) frames as fuzz seeds.

A TCP proxy in front of one broker: every connection to LISTEN is forwarded to BROKER; the
broker's port in Metadata answers is rewritten to the proxy's (same width), so the producer's
leader connections come through the proxy too. Each response frame is saved under
seeds/<target>/ as the fuzz target reads it (a selector byte with the version, then the frame
without its size prefix); each Produce request's body as a `produce` request seed, and each
partition's records as a `records` seed. Run a producer against LISTEN; stop with Ctrl-C.

    python3 fuzz/capture.py 19092 127.0.0.1:9092 fuzz/seeds
"""
import hashlib, os, socket, struct, sys, threading

LISTEN = int(sys.argv[1])
BHOST, BPORT = sys.argv[2].rsplit(":", 1)
BPORT = int(BPORT)
OUT = sys.argv[3]
TARGET = {18: "api_versions", 3: "metadata", 0: "produce", 22: "init_producer_id",
          17: "sasl", 36: "sasl"}
# First flexible request version per API key (request header v2 from there).
FLEX = {18: 3, 3: 9, 0: 9, 22: 2, 17: 99, 36: 2}


def save(target, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def uvarint(b, i):
    v = shift = 0
    while True:
        x = b[i]; i += 1
        v |= (x & 0x7F) << shift; shift += 7
        if x < 0x80:
            return v, i


def skip_tags(b, i):
    n, i = uvarint(b, i)
    for _ in range(n):
        _, i = uvarint(b, i)
        size, i = uvarint(b, i)
        i += size
    return i


def request_body(frame):
    key, ver = struct.unpack(">hh", frame[:4])
    i = 8
    (clen,) = struct.unpack(">h", frame[i:i + 2]); i += 2
    if clen > 0:
        i += clen
    if ver >= FLEX.get(key, 99) and key != 18 or (key == 18 and ver >= 3):
        i = skip_tags(frame, i)
    return frame[i:]


def produce_records(ver, body):
    """The records of each partition of a flexible (v9+) or classic Produce request."""
    flex = ver >= 9
    i = 0
    def string():
        nonlocal i
        if flex:
            n, i = uvarint(body, i); n -= 1
        else:
            (n,) = struct.unpack(">h", body[i:i + 2]); i += 2
        s = body[i:i + max(n, 0)]; i += max(n, 0)
        return s
    def count():
        nonlocal i
        if flex:
            n, i = uvarint(body, i); return n - 1
        (n,) = struct.unpack(">i", body[i:i + 4]); i += 4
        return n
    if ver >= 3:
        string()  # transactional id
    i += 6  # acks, timeout
    out = []
    for _ in range(count()):
        string()
        for _ in range(count()):
            i += 4
            if flex:
                n, i = uvarint(body, i); n -= 1
            else:
                (n,) = struct.unpack(">i", body[i:i + 4]); i += 4
            out.append(body[i:i + n]); i += n
            if flex:
                i = skip_tags(body, i)
        if flex:
            i = skip_tags(body, i)
    return out


def frames(sock):
    buf = b""
    while True:
        while len(buf) >= 4 and len(buf) >= 4 + struct.unpack(">i", buf[:4])[0]:
            n = struct.unpack(">i", buf[:4])[0]
            yield buf[:4 + n]
            buf = buf[4 + n:]
        chunk = sock.recv(65536)
        if not chunk:
            return
        buf += chunk


def pipe(src, dst, pending, lock, to_broker):
    try:
        for f in frames(src):
            frame = f[4:]
            if to_broker:
                key, ver, corr = struct.unpack(">hhi", frame[:8])
                with lock:
                    pending[corr] = (key, ver)
                if key == 0:
                    body = request_body(frame)
                    save("produce", bytes([0x80 | ver]) + body)
                    for rec in produce_records(ver, body):
                        save("records", rec)
            else:
                (corr,) = struct.unpack(">i", frame[:4])
                with lock:
                    key, ver = pending.pop(corr, (None, None))
                if key == 3:
                    frame = frame.replace(struct.pack(">i", BPORT), struct.pack(">i", LISTEN))
                    f = struct.pack(">i", len(frame)) + frame
                if key in TARGET:
                    sel = ver
                    if key == 17:
                        sel = 0x40 | ver
                    save(TARGET[key], bytes([sel]) + frame)
                    save("frame", b"\xff\xff" + f)
            dst.sendall(f)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", LISTEN))
    srv.listen(16)
    while True:
        c, _ = srv.accept()
        b = socket.create_connection((BHOST, BPORT))
        pending, lock = {}, threading.Lock()
        threading.Thread(target=pipe, args=(c, b, pending, lock, True), daemon=True).start()
        threading.Thread(target=pipe, args=(b, c, pending, lock, False), daemon=True).start()


main()
