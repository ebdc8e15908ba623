"""Idempotent produce through a lossy proxy: confluent-kafka (librdkafka from PyPI) with enable.idempotence=True sends
COUNT records to a Spate broker through a TCP proxy that, for some Produce requests, forwards the request but closes the
client's connection instead of relaying the response. librdkafka then retries those batches (and the others in flight
on that connection) with the same producer ID and sequence numbers, which the broker must recognise as duplicates.

usage: idempotent_produce.py PROXY_PORT BROKER_PORT TOPIC PARTITIONS COUNT

The broker must advertise 127.0.0.1:PROXY_PORT so that every connection goes through the proxy. Exits 0 when every
record was acknowledged once, and reading the topic back shows each record exactly once, in order, at the offset its
delivery report gave; prints a JSON summary on stdout.
"""
import json
import socket
import struct
import sys
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

PRODUCE = 0


class LossyProxy:
    """Relays Kafka frames between clients and the broker; drops the response to every `drop_every`-th Produce request
    (at most `max_drops` times) by closing the client's connection once the broker has answered."""

    def __init__(self, listen_port, upstream_port, drop_every, max_drops):
        self.upstream_port = upstream_port
        self.drop_every = drop_every
        self.max_drops = max_drops
        self.lock = threading.Lock()
        self.produce_requests = 0
        self.dropped = 0
        self.listener = socket.create_server(("127.0.0.1", listen_port))
        threading.Thread(target=self.accept_loop, daemon=True).start()

    def accept_loop(self):
        while True:
            client, _ = self.listener.accept()
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
            for s in (client, upstream):
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            doomed = set()
            threading.Thread(target=self.requests, args=(client, upstream, doomed), daemon=True).start()
            threading.Thread(target=self.responses, args=(upstream, client, doomed), daemon=True).start()

    @staticmethod
    def read_frame(sock):
        header = LossyProxy.read_exactly(sock, 4)
        if header is None:
            return None
        (size,) = struct.unpack(">i", header)
        body = LossyProxy.read_exactly(sock, size)
        return None if body is None else header + body

    @staticmethod
    def read_exactly(sock, n):
        data = bytearray()
        while len(data) < n:
            try:
                chunk = sock.recv(n - len(data))
            except OSError:
                return None
            if not chunk:
                return None
            data += chunk
        return bytes(data)

    @staticmethod
    def close(*socks):
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()

    def requests(self, client, upstream, doomed):
        while True:
            frame = self.read_frame(client)
            if frame is None:
                break
            api_key, _, correlation = struct.unpack(">hhi", frame[4:12])
            if api_key == PRODUCE:
                with self.lock:
                    self.produce_requests += 1
                    if self.produce_requests % self.drop_every == 0 and self.dropped < self.max_drops:
                        doomed.add(correlation)
            try:
                upstream.sendall(frame)
            except OSError:
                break
        self.close(client, upstream)

    def responses(self, upstream, client, doomed):
        while True:
            frame = self.read_frame(upstream)
            if frame is None:
                break
            (correlation,) = struct.unpack(">i", frame[4:8])
            if correlation in doomed:
                # The broker has appended the batch; the client never hears of it and must retry.
                with self.lock:
                    self.dropped += 1
                break
            try:
                client.sendall(frame)
            except OSError:
                break
        self.close(client, upstream)


def wait_for_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the broker never listened on port %d" % port)


def main():
    proxy_port, broker_port, topic = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    partitions, count = int(sys.argv[4]), int(sys.argv[5])
    wait_for_port(broker_port)
    proxy = LossyProxy(proxy_port, broker_port, drop_every=7, max_drops=12)
    bootstrap = "127.0.0.1:%d" % proxy_port

    producer = Producer({
        "bootstrap.servers": bootstrap,
        "enable.idempotence": True,  # implies acks=all, max.in.flight <= 5, unlimited retries
        "linger.ms": 2,
        "batch.num.messages": 40,  # many small batches, so that drops hit batches in flight
        "retry.backoff.ms": 20,
        "message.timeout.ms": 120000,
    })
    reported = {}  # record number -> (partition, offset)
    failures = []

    def delivered(err, msg):
        if err is not None:
            failures.append(str(err))
        else:
            reported[int(msg.value())] = (msg.partition(), msg.offset())

    for i in range(count):
        while True:
            try:
                producer.produce(topic, value=str(i).encode(), partition=i % partitions, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    remaining = producer.flush(120)
    if remaining or failures or len(reported) != count:
        raise SystemExit("produce failed: %d unflushed, %d reported, failures %s" % (remaining, len(reported), failures[:5]))

    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "spate-idempotence-check",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    stored = {p: [] for p in range(partitions)}  # partition -> [(offset, record number)]
    deadline = time.time() + 60
    while sum(len(v) for v in stored.values()) < count and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            continue
        stored[msg.partition()].append((msg.offset(), int(msg.value())))
    # Anything more (a duplicate) would arrive now.
    extra_deadline = time.time() + 1
    while time.time() < extra_deadline:
        msg = consumer.poll(0.2)
        if msg is not None and not msg.error():
            stored[msg.partition()].append((msg.offset(), int(msg.value())))
    consumer.close()

    problems = []
    for p in range(partitions):
        numbers = [n for _, n in stored[p]]
        expected = list(range(p, count, partitions))
        if numbers != expected:
            problems.append("partition %d holds %d records, expected %d; first difference at %s" % (
                p, len(numbers), len(expected),
                next((i for i, (a, b) in enumerate(zip(numbers, expected)) if a != b), min(len(numbers), len(expected)))))
        offsets = [o for o, _ in stored[p]]
        if offsets != list(range(len(offsets))):
            problems.append("partition %d offsets are not 0..n-1" % p)
        for offset, number in stored[p]:
            if reported.get(number) != (p, offset):
                problems.append("record %d is at %d/%d but its delivery report said %s" % (number, p, offset, reported.get(number)))
                break
    print(json.dumps({
        "produce_requests": proxy.produce_requests, "dropped_responses": proxy.dropped,
        "consumed": sum(len(v) for v in stored.values()), "problems": problems,
    }))
    if problems:
        raise SystemExit("\n".join(problems))
    if proxy.dropped == 0:
        raise SystemExit("no Produce response was dropped, so no retry was exercised")


if __name__ == "__main__":
    main()
