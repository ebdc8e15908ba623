"""Ordering across partitions, acks levels, auto-created topics, and where consumers start (earliest, latest, a given
offset, a timestamp)."""

import time

import pytest
from confluent_kafka import OFFSET_END, KafkaError, Producer, TopicPartition

from helpers import (confluent_config, confluent_consume, confluent_consumer, confluent_produce, confluent_record,
                     create_topic, kcat, kcat_consume_json, kp_consume, kp_consumer, kp_produce, make_records,
                     wait_for_topic)


def test_ordering_per_partition(broker, topic):
    create_topic(broker.bootstrap, topic, 4)
    assert wait_for_topic(broker.bootstrap, topic) == 4
    # 64 keys spread over the 4 partitions by the default partitioner; values carry the production order.
    records = make_records(20_000)
    for i, r in enumerate(records):
        r.key = b"key-%d" % (i % 64)
        r.value = b"%d" % i
    reports = confluent_produce(broker.bootstrap, topic, records, **{"compression.type": "lz4"})
    used = {p for p, _ in reports}
    assert used == {0, 1, 2, 3}, used
    messages = confluent_consume(broker.bootstrap, topic, [0, 1, 2, 3], len(records))
    by_partition = {}
    for m in messages:
        by_partition.setdefault(m.partition(), []).append(m)
    for p, ms in by_partition.items():
        assert [m.offset() for m in ms] == list(range(len(ms))), f"partition {p}: offsets not dense"
        sequence = [int(m.value()) for m in ms]
        assert sequence == sorted(sequence), f"partition {p}: records out of production order"
        assert sequence == [i for i, (rp, _) in enumerate(reports) if rp == p]
        assert {m.key() for m in ms} == {records[i].key for i in sequence}
    # Every key lives in exactly one partition.
    owners = {}
    for m in messages:
        owners.setdefault(m.key(), set()).add(m.partition())
    assert all(len(ps) == 1 for ps in owners.values())


@pytest.mark.parametrize("acks", ["0", "1", "all"])
def test_acks(broker, topic, acks):
    records = make_records(5_000)
    reports = confluent_produce(broker.bootstrap, topic, records, partition=0, acks=acks)
    if acks != "0":
        assert [o for _, o in reports] == list(range(len(records)))
    messages = confluent_consume(broker.bootstrap, topic, [0], len(records))
    assert [confluent_record(m) for m in messages] == [r.as_tuple() for r in records]


@pytest.mark.parametrize("acks", [0, 1, "all"])
def test_acks_kafka_python(broker, topic, acks):
    records = make_records(2_000)
    kp_produce(broker.bootstrap, topic, records, partition=0, acks=acks)
    messages, _ = kp_consume(broker.bootstrap, topic, [0], len(records))
    assert [(m.key, m.value) for m in messages] == [(r.key, r.value) for r in records]


def test_auto_create_on_produce(broker, topic_name):
    # Producing to an unknown topic creates it (Metadata with allow_auto_topic_creation) with num.partitions=1.
    a, b, c = topic_name("confluent"), topic_name("kafka-python"), topic_name("kcat")
    confluent_produce(broker.bootstrap, a, make_records(10))
    kp_produce(broker.bootstrap, b, make_records(10))
    kcat(broker.bootstrap, "-P", "-t", c, input=b"one\ntwo\nthree\n")
    for t, n in ((a, 10), (b, 10), (c, 3)):
        assert wait_for_topic(broker.bootstrap, t) == 1
        assert len(confluent_consume(broker.bootstrap, t, [0], n)) == n


def test_auto_create_uses_num_partitions(limits_broker, topic):
    confluent_produce(limits_broker.bootstrap, topic, make_records(30))
    assert wait_for_topic(limits_broker.bootstrap, topic) == 3
    assert len(confluent_consume(limits_broker.bootstrap, topic, [0, 1, 2], 30)) == 30


@pytest.fixture
def timed_topic(broker, topic):
    """100 records with timestamps 1,000,000 + 1000·i ms, one per produce so each has its own batch."""
    base = 1_000_000_000_000
    producer = Producer(confluent_config(broker.bootstrap))
    for i in range(100):
        producer.produce(topic, key=b"%d" % i, value=b"v%d" % i, partition=0, timestamp=base + 1000 * i)
        producer.flush(30)
    assert producer.flush(30) == 0
    return topic, base


def consume_from(bootstrap, topic, offset, count):
    consumer = confluent_consumer(bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0, offset)])
        got = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                assert msg.error().code() == KafkaError._PARTITION_EOF, msg.error()
                if len(got) >= count:
                    break
                continue
            got.append(msg)
        return got
    finally:
        consumer.close()


def test_consume_from_earliest_latest_offset(timed_topic, broker):
    topic, base = timed_topic
    from confluent_kafka import OFFSET_BEGINNING
    assert [int(m.key()) for m in consume_from(broker.bootstrap, topic, OFFSET_BEGINNING, 100)] == list(range(100))
    assert [int(m.key()) for m in consume_from(broker.bootstrap, topic, 42, 58)] == list(range(42, 100))
    # From the end: only what is produced after the consumer has positioned itself.
    consumer = confluent_consumer(broker.bootstrap)
    try:
        consumer.assign([TopicPartition(topic, 0, OFFSET_END)])
        msg = consumer.poll(10)
        assert msg is not None and msg.error() and msg.error().code() == KafkaError._PARTITION_EOF
        assert msg.offset() == 100
        producer = Producer(confluent_config(broker.bootstrap))
        producer.produce(topic, key=b"late", value=b"late", partition=0)
        assert producer.flush(30) == 0
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                break
        assert msg is not None and not msg.error() and msg.key() == b"late" and msg.offset() == 100
    finally:
        consumer.close()
    consumer = confluent_consumer(broker.bootstrap)
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (0, 101)
    finally:
        consumer.close()


def test_offsets_for_times(timed_topic, broker):
    topic, base = timed_topic
    consumer = confluent_consumer(broker.bootstrap)
    try:
        asked = [TopicPartition(topic, 0, base + 1000 * 37), TopicPartition(topic, 0, base + 1000 * 37 + 1),
                 TopicPartition(topic, 0, base - 5), TopicPartition(topic, 0, base + 1000 * 1000)]
        answers = [consumer.offsets_for_times([tp], timeout=10)[0].offset for tp in asked]
        assert answers == [37, 38, 0, -1]  # -1: no record at or after that time (the end)
        consumer.assign([TopicPartition(topic, 0, 37)])
        msg = consumer.poll(10)
        assert msg is not None and not msg.error() and msg.timestamp()[1] == base + 1000 * 37
    finally:
        consumer.close()
    # kafka-python
    from kafka import TopicPartition as KTP
    kc = kp_consumer(broker.bootstrap)
    try:
        found = kc.offsets_for_times({KTP(topic, 0): base + 1000 * 60 - 1})[KTP(topic, 0)]
        assert (found.offset, found.timestamp) == (60, base + 1000 * 60)
        assert kc.beginning_offsets([KTP(topic, 0)]) == {KTP(topic, 0): 0}
        assert kc.end_offsets([KTP(topic, 0)]) == {KTP(topic, 0): 100}
    finally:
        kc.close()
    # kcat: -o s@timestamp
    out = kcat_consume_json(broker.bootstrap, topic, "-p", "0", "-o", f"s@{base + 1000 * 90}")
    assert [int(m["key"]) for m in out] == list(range(90, 100))
    out = kcat_consume_json(broker.bootstrap, topic, "-p", "0", "-o", "-5")
    assert [int(m["key"]) for m in out] == list(range(95, 100))
