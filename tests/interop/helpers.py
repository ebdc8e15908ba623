"""Client-side helpers shared by the interoperability tests: the records they produce, and producing/consuming with
confluent-kafka, kafka-python and kcat. These consumers assign explicit partitions and offsets and never commit;
group members are in group_member.py."""

import json
import socket
import struct
import subprocess
import time

from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
TIMEOUT = 60.0


class Record:
    __slots__ = ("key", "value", "headers")

    def __init__(self, key, value, headers):
        self.key, self.value, self.headers = key, value, headers

    def as_tuple(self):
        return (self.key, self.value, tuple(self.headers))

    def __repr__(self):
        return f"Record({self.as_tuple()!r})"


def make_records(n, with_headers=True, null_every=7):
    """Deterministic records: keyed, every `null_every`-th value null, varied sizes, headers on two of three."""
    out = []
    for i in range(n):
        key = b"key-%d" % i
        value = None if i % null_every == 3 else (b"value %d " % i) * (1 + i % 5)
        headers = []
        if with_headers and i % 3 != 0:
            headers = [("seq", b"%d" % i), ("origin", b"interop")]
        out.append(Record(key, value, headers))
    return out


# --- confluent-kafka ---------------------------------------------------------------------------------------

def confluent_config(bootstrap, **extra):
    config = {"bootstrap.servers": bootstrap, "broker.address.family": "v4"}
    config.update(extra)
    return config


def confluent_produce(bootstrap, topic, records, partition=None, **config):
    """Produces every record and returns the delivery reports' (partition, offset) per record, failing on any error."""
    producer = Producer(confluent_config(bootstrap, **{"linger.ms": 5, "queue.buffering.max.messages": 1_000_000,
                                                       **config}))
    results = [None] * len(records)
    errors = []

    def report(index):
        def on_delivery(err, msg):
            if err is not None:
                errors.append((index, err))
            else:
                results[index] = (msg.partition(), msg.offset())
        return on_delivery

    for i, r in enumerate(records):
        kwargs = {"key": r.key, "value": r.value, "on_delivery": report(i)}
        if r.headers:
            kwargs["headers"] = list(r.headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                producer.produce(topic, **kwargs)
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(TIMEOUT)
    assert remaining == 0, f"{remaining} records not delivered within {TIMEOUT}s"
    assert not errors, f"{len(errors)} delivery errors, first: {errors[:3]}"
    return results


def confluent_consumer(bootstrap, **extra):
    # group.id is required by the client but unused: assign() only, no commits, no subscribe().
    return Consumer(confluent_config(bootstrap, **{
        "group.id": "spate-interop-unused", "enable.auto.commit": False, "enable.auto.offset.store": False,
        "enable.partition.eof": True, **extra}))


def confluent_consume(bootstrap, topic, partitions, count, offset=None, timeout=TIMEOUT, **extra):
    """Consumes exactly `count` records from the given partitions (each from `offset`, default the beginning), then
    checks that each partition is at its end. Returns the messages in consumption order."""
    from confluent_kafka import OFFSET_BEGINNING
    consumer = confluent_consumer(bootstrap, **extra)
    try:
        start = OFFSET_BEGINNING if offset is None else offset
        consumer.assign([TopicPartition(topic, p, start) for p in partitions])
        messages = []
        at_eof = set()
        deadline = time.monotonic() + timeout
        while (len(messages) < count or len(at_eof) < len(partitions)) and time.monotonic() < deadline:
            for msg in consumer.consume(num_messages=10_000, timeout=0.5):
                err = msg.error()
                if err is None:
                    messages.append(msg)
                    at_eof.discard(msg.partition())
                elif err.code() == KafkaError._PARTITION_EOF:
                    at_eof.add(msg.partition())
                else:
                    raise AssertionError(f"consume error: {err}")
        assert len(messages) == count, f"consumed {len(messages)} records, expected {count}"
        return messages
    finally:
        consumer.close()


def confluent_record(msg):
    return Record(msg.key(), msg.value(), [(k, v) for k, v in (msg.headers() or [])]).as_tuple()


def create_topic(bootstrap, topic, partitions, config=None):
    admin = AdminClient(confluent_config(bootstrap))
    futures = admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1,
                                            config=config or {})], operation_timeout=30)
    futures[topic].result(TIMEOUT)


def wait_for_topic(bootstrap, topic, timeout=TIMEOUT):
    """Metadata (which auto-creates) until the topic has leaders for all its partitions; returns its partition count."""
    admin = AdminClient(confluent_config(bootstrap))
    deadline = time.monotonic() + timeout
    while True:
        md = admin.list_topics(topic, timeout=10)
        t = md.topics.get(topic)
        if t is not None and t.error is None and t.partitions and all(p.leader >= 0 for p in t.partitions.values()):
            return len(t.partitions)
        assert time.monotonic() < deadline, f"topic {topic} not available: {t and t.error}"
        time.sleep(0.1)


# --- kafka-python ------------------------------------------------------------------------------------------

def kp_produce(bootstrap, topic, records, partition=None, **config):
    from kafka import KafkaProducer
    # kafka-python 3 is idempotent by default (KIP-679) and keeps that default here; it silently turns idempotence
    # off when a test passes acks 0 or 1.
    producer = KafkaProducer(bootstrap_servers=bootstrap, **{"linger_ms": 5, **config})
    try:
        futures = [producer.send(topic, key=r.key, value=r.value, headers=list(r.headers), partition=partition)
                   for r in records]
        producer.flush(TIMEOUT)
        return [(m.partition, m.offset) for m in (f.get(timeout=TIMEOUT) for f in futures)]
    finally:
        producer.close(timeout=10)


def kp_consumer(bootstrap, **config):
    from kafka import KafkaConsumer
    return KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, **config)


def kp_consume(bootstrap, topic, partitions, count, timeout=TIMEOUT, **config):
    from kafka import TopicPartition as KTP
    consumer = kp_consumer(bootstrap, **config)
    try:
        tps = [KTP(topic, p) for p in partitions]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        messages = []
        deadline = time.monotonic() + timeout
        while len(messages) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=500, max_records=10_000).values():
                messages.extend(batch)
        # Nothing beyond the expected count.
        for batch in consumer.poll(timeout_ms=200).values():
            messages.extend(batch)
        assert len(messages) == count, f"consumed {len(messages)} records, expected {count}"
        return messages, consumer.config["api_version"]
    finally:
        consumer.close()


def kp_record(msg):
    return Record(msg.key, msg.value, [(k, v) for k, v in (msg.headers or [])]).as_tuple()


# --- kcat --------------------------------------------------------------------------------------------------

def kcat(bootstrap, *args, input=None, timeout=TIMEOUT):
    result = subprocess.run(["kcat", "-b", bootstrap, "-X", "broker.address.family=v4", *args], input=input,
                            capture_output=True, timeout=timeout)
    assert result.returncode == 0, f"kcat {' '.join(args)} exited {result.returncode}: {result.stderr.decode()}"
    return result


def kcat_consume_json(bootstrap, topic, *args):
    out = kcat(bootstrap, "-C", "-t", topic, "-e", "-J", "-q", *args).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


# --- raw protocol ------------------------------------------------------------------------------------------

def raw_connect(address, timeout=10.0):
    s = socket.create_connection(address, timeout=timeout)
    s.settimeout(timeout)
    return s


def request_header_v1(api_key, api_version, correlation_id, client_id=b"spate-interop"):
    return struct.pack(">hhih", api_key, api_version, correlation_id, len(client_id)) + client_id


def frame(payload):
    return struct.pack(">i", len(payload)) + payload


def read_frame(s):
    size = struct.unpack(">i", recv_exactly(s, 4))[0]
    return recv_exactly(s, size)


def recv_exactly(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def assert_closed_by_broker(s, timeout=10.0):
    """The broker closes the connection (EOF or reset) without sending anything."""
    s.settimeout(timeout)
    try:
        data = s.recv(65536)
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError(f"the broker kept the connection open for {timeout}s")
    assert data == b"", f"expected the connection closed, got {len(data)} bytes: {data[:64]!r}"


def api_versions_v0(address, correlation_id=7):
    """A well-formed ApiVersions v0 exchange on a new connection: (error code, {api key: (min, max)})."""
    with raw_connect(address) as s:
        s.sendall(frame(request_header_v1(18, 0, correlation_id)))
        return parse_api_versions_v0(read_frame(s), correlation_id)


def parse_api_versions_v0(body, correlation_id):
    got_correlation, error, count = struct.unpack(">ihi", body[:10])
    assert got_correlation == correlation_id
    keys = {}
    for i in range(count):
        key, lo, hi = struct.unpack(">hhh", body[10 + 6 * i:16 + 6 * i])
        keys[key] = (lo, hi)
    return error, keys
