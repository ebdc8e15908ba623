"""Limits and bad input: batches at and just over max.message.bytes, and raw sockets sending what no client should.
Each bad connection is closed (or answered as Kafka does) and the broker goes on serving everyone else."""

import socket
import struct

import pytest
from confluent_kafka import KafkaError, Producer
from confluent_kafka.admin import AdminClient

from conftest import LIMIT_MESSAGE_MAX_BYTES, LIMIT_SOCKET_REQUEST_MAX_BYTES
from helpers import (api_versions_v0, assert_closed_by_broker, confluent_config, frame, parse_api_versions_v0,
                     raw_connect, read_frame, request_header_v1, wait_for_topic)

BATCH_HEADER = 61  # a v2 record batch's fixed header, through the record count


def varint_size(n):
    z = (n << 1) ^ (n >> 63)
    size = 1
    while z >= 0x80:
        z >>= 7
        size += 1
    return size


def batch_size_for_value(value_size):
    """The size of a v2 batch holding one record with a null key, no headers and a value of `value_size` bytes."""
    body = 1 + varint_size(0) + varint_size(0) + varint_size(-1) + varint_size(value_size) + value_size + varint_size(0)
    return BATCH_HEADER + varint_size(body) + body


def value_size_for_batch(batch_size):
    v = batch_size - BATCH_HEADER
    while batch_size_for_value(v) > batch_size:
        v -= 1
    assert batch_size_for_value(v) == batch_size
    return v


def produce_one(bootstrap, topic, value):
    producer = Producer(confluent_config(bootstrap, **{"linger.ms": 0, "compression.type": "none", "acks": "all"}))
    outcome = []
    producer.produce(topic, value=value, partition=0, on_delivery=lambda err, msg: outcome.append((err, msg.offset())))
    assert producer.flush(30) == 0
    return outcome[0]


def test_max_message_bytes_confluent(limits_broker, topic):
    wait_for_topic(limits_broker.bootstrap, topic)
    size = value_size_for_batch(LIMIT_MESSAGE_MAX_BYTES)
    err, offset = produce_one(limits_broker.bootstrap, topic, b"x" * size)
    assert err is None and offset == 0
    err, _ = produce_one(limits_broker.bootstrap, topic, b"x" * (size + 1))
    assert err is not None and err.code() == KafkaError.MSG_SIZE_TOO_LARGE, err
    # The broker still takes what fits.
    err, offset = produce_one(limits_broker.bootstrap, topic, b"y" * size)
    assert err is None and offset == 1


def test_max_message_bytes_kafka_python(limits_broker, topic):
    from kafka import KafkaProducer
    from kafka.errors import MessageSizeTooLargeError
    wait_for_topic(limits_broker.bootstrap, topic)
    size = value_size_for_batch(LIMIT_MESSAGE_MAX_BYTES)
    producer = KafkaProducer(bootstrap_servers=limits_broker.bootstrap, linger_ms=0, acks=1)
    try:
        assert producer.send(topic, value=b"x" * size, partition=0).get(30).offset == 0
        with pytest.raises(MessageSizeTooLargeError):
            producer.send(topic, value=b"x" * (size + 1), partition=0).get(30)
    finally:
        producer.close(10)


def metadata_works(broker):
    """A real client still gets metadata from the broker."""
    md = AdminClient(confluent_config(broker.bootstrap)).list_topics(timeout=20)
    assert len(md.brokers) == 1
    error, keys = api_versions_v0(broker.host_port)
    assert error == 0 and 3 in keys


def metadata_v4_body(topics):
    body = struct.pack(">i", len(topics))
    for t in topics:
        body += struct.pack(">h", len(t)) + t
    return body + b"\x00"  # allow_auto_topic_creation = false


def test_valid_raw_metadata_v4(broker):
    # The frame-building helpers produce requests the broker accepts (so the bad ones below fail for their flaw).
    with raw_connect(broker.host_port) as s:
        s.sendall(frame(request_header_v1(3, 4, 11) + metadata_v4_body([])))
        body = read_frame(s)
        assert struct.unpack(">i", body[:4])[0] == 11


BAD_REQUESTS = {
    # A header too short to hold even the API key, version and correlation id.
    "malformed_header": frame(b"\xff\xff\x00"),
    # A Metadata v4 request whose topic array claims far more entries than the frame holds.
    "malformed_body": frame(request_header_v1(3, 4, 1) + struct.pack(">i", 1_000_000) + b"\x00\x05abc"),
    # A client id whose length runs past the end of the frame.
    "truncated_header": frame(struct.pack(">hhih", 3, 4, 1, 200) + b"abc"),
    # A Metadata v4 request cut off in its topic name.
    "truncated_body": frame(request_header_v1(3, 4, 1) + struct.pack(">ih", 1, 10) + b"abc"),
    "unknown_api_key": frame(request_header_v1(999, 0, 1)),
    "unsupported_metadata_version_low": frame(request_header_v1(3, 0, 1) + struct.pack(">i", 0)),
    "unsupported_metadata_version_high": frame(request_header_v1(3, 99, 1) + struct.pack(">i", 0)),
    "negative_size": struct.pack(">i", -1) + request_header_v1(18, 0, 1),
    "oversized_frame": struct.pack(">i", LIMIT_SOCKET_REQUEST_MAX_BYTES + 1) + request_header_v1(18, 0, 1),
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_request_closes_connection(limits_broker, name):
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(BAD_REQUESTS[name])
        assert_closed_by_broker(s)
    metadata_works(limits_broker)


def test_oversized_frame_refused_before_buffering(limits_broker):
    # The broker refuses on the size prefix alone, without waiting for the declared bytes.
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(struct.pack(">i", 1_000_000_000) + b"\x00" * 1024)
        assert_closed_by_broker(s)
    metadata_works(limits_broker)


def test_frame_at_socket_request_max_bytes_is_read(limits_broker):
    # Exactly socket.request.max.bytes is allowed: an ApiVersions v0 request padded to the limit is answered.
    payload = request_header_v1(18, 0, 5)
    payload += b"\x00" * (LIMIT_SOCKET_REQUEST_MAX_BYTES - len(payload))
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(frame(payload))
        error, keys = parse_api_versions_v0(read_frame(s), 5)
        assert error == 0 and keys


def test_truncated_frame_then_eof(limits_broker):
    # A frame that promises 100 bytes, delivers 10, then half-closes: the broker closes its side too.
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(struct.pack(">i", 100) + request_header_v1(3, 4, 1)[:10])
        s.shutdown(socket.SHUT_WR)
        assert_closed_by_broker(s)
    metadata_works(limits_broker)


def test_truncated_frame_other_clients_served_meanwhile(limits_broker):
    # A connection stalled mid-frame holds nothing up for others.
    with raw_connect(limits_broker.host_port) as stalled:
        stalled.sendall(struct.pack(">i", 100) + b"\x00\x03")
        metadata_works(limits_broker)


@pytest.mark.parametrize("version", [5, 99, 32767])
def test_api_versions_unsupported_version_gets_v0_answer(limits_broker, version):
    # KIP-511: an ApiVersions request of a version the broker does not know gets UNSUPPORTED_VERSION (35) in a v0
    # response listing what it does support. The body (of a version we do not know) is ignored.
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(frame(request_header_v1(18, version, 77) + b"\x00\x01\x02"))
        error, keys = parse_api_versions_v0(read_frame(s), 77)
        assert error == 35
        assert keys[18] == (0, 4) and 0 in keys and 1 in keys and 3 in keys
        # The connection stays usable for a supported version.
        s.sendall(frame(request_header_v1(18, 0, 78)))
        error, _ = parse_api_versions_v0(read_frame(s), 78)
        assert error == 0
    metadata_works(limits_broker)


def test_pipelined_bad_request_after_good_one(limits_broker):
    # A good request then a bad one on the same connection: the good one is answered, then the connection closes.
    with raw_connect(limits_broker.host_port) as s:
        s.sendall(frame(request_header_v1(18, 0, 1)) + frame(request_header_v1(999, 0, 2)))
        error, _ = parse_api_versions_v0(read_frame(s), 1)
        assert error == 0
        assert_closed_by_broker(s)
    metadata_works(limits_broker)
