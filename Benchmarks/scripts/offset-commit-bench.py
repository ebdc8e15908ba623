#!/usr/bin/env python3
"""OffsetCommit throughput against a running broker, end to end (socket, group coordinator, __consumer_offsets append).

Builds one OffsetCommit v2 request (a simple commit: generation -1, no member) of P partitions (10 topics x P/10) once,
then sends it over C connections, each waiting for its response before the next request (as clients do), for S
seconds. Prints requests/s and committed partitions/s as JSON.

usage: offset-commit-bench.py HOST:PORT [--partitions 1000] [--seconds 10] [--connections 1]
"""
import argparse
import json
import socket
import struct
import threading
import time


def string(s):
    b = s.encode()
    return struct.pack(">h", len(b)) + b


def request(api_key, version, correlation, body):
    header = struct.pack(">hhi", api_key, version, correlation) + string("offset-commit-bench")
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_frame(sock):
    size = struct.unpack(">i", recv(sock, 4))[0]
    return recv(sock, size)


def recv(sock, n):
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise ConnectionError("closed")
        out += chunk
    return out


def offset_commit_body(group, partitions):
    topics = 10
    per_topic = partitions // topics
    body = string(group) + struct.pack(">i", -1) + string("") + struct.pack(">q", -1) + struct.pack(">i", topics)
    for t in range(topics):
        body += string(f"bench-topic-{t}") + struct.pack(">i", per_topic)
        for p in range(per_topic):
            body += struct.pack(">iq", p, 1_000_000 + p) + struct.pack(">h", -1)  # null metadata
    return body


def check(response, partitions):
    """OffsetCommit v2 response: correlation ID, then topics of partitions with error codes (no throttle time before
    v3): all must be 0."""
    correlation, topics = struct.unpack(">ii", response[:8])
    assert correlation == 7
    at, errors, seen = 8, [], 0
    for _ in range(topics):
        (length,) = struct.unpack(">h", response[at:at + 2])
        at += 2 + length
        (count,) = struct.unpack(">i", response[at:at + 4])
        at += 4
        for _ in range(count):
            _, code = struct.unpack(">ih", response[at:at + 6])
            at += 6
            seen += 1
            if code:
                errors.append(code)
    assert seen == partitions and not errors, f"{seen} partitions, errors {set(errors)}"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("--partitions", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=1)
    args = parser.parse_args()
    host, port = args.bootstrap.rsplit(":", 1)

    # FindCoordinator v0 creates __consumer_offsets if needed.
    with socket.create_connection((host, int(port))) as s:
        s.sendall(request(10, 0, 1, string("bench")))
        read_frame(s)

    counts = [0] * args.connections
    deadline = time.monotonic() + args.seconds

    def run(index):
        body = offset_commit_body(f"bench-{index}", args.partitions)
        frame = request(8, 2, 7, body)
        with socket.create_connection((host, int(port))) as s:
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.sendall(frame)
            first = read_frame(s)
            check(first, args.partitions)
            while time.monotonic() < deadline:
                s.sendall(frame)
                read_frame(s)
                counts[index] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(args.connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started
    total = sum(counts)
    print(json.dumps({"partitions_per_request": args.partitions, "connections": args.connections,
                      "requests": total, "requests_per_sec": round(total / elapsed, 1),
                      "partitions_per_sec": round(total * args.partitions / elapsed)}))


if __name__ == "__main__":
    main()
