"""Restarts: a graceful restart keeps topics and data; a SIGKILL during acks=all production loses no acknowledged
record."""

import threading
import time

from confluent_kafka import Producer, TopicPartition

from helpers import (confluent_config, confluent_consume, confluent_consumer, confluent_produce, confluent_record,
                     create_topic, kcat_consume_json, make_records, wait_for_topic)


def test_graceful_restart_keeps_topics_and_data(own_broker, topic_name):
    single, multi = topic_name("single"), topic_name("multi")
    records = make_records(20_000)
    confluent_produce(own_broker.bootstrap, single, records, partition=0, **{"compression.type": "zstd"})
    create_topic(own_broker.bootstrap, multi, 4)
    multi_reports = confluent_produce(own_broker.bootstrap, multi, make_records(4_000))
    own_broker.restart()
    own_broker.restart()  # twice: a restart from a restarted directory too
    assert wait_for_topic(own_broker.bootstrap, single) == 1
    assert wait_for_topic(own_broker.bootstrap, multi) == 4
    messages = confluent_consume(own_broker.bootstrap, single, [0], len(records))
    assert [confluent_record(m) for m in messages] == [r.as_tuple() for r in records]
    assert [m.offset() for m in messages] == list(range(len(records)))
    messages = confluent_consume(own_broker.bootstrap, multi, [0, 1, 2, 3], 4_000)
    assert sorted((m.partition(), m.offset()) for m in messages) == sorted(multi_reports)
    # Appends continue after the restored end.
    reports = confluent_produce(own_broker.bootstrap, single, make_records(10), partition=0)
    assert [o for _, o in reports] == list(range(len(records), len(records) + 10))
    assert len(kcat_consume_json(own_broker.bootstrap, single, "-p", "0", "-o", "beginning")) == len(records) + 10


def test_kill_during_acks_all_keeps_acknowledged_records(own_broker, topic):
    create_topic(own_broker.bootstrap, topic, 1)
    producer = Producer(confluent_config(own_broker.bootstrap, **{
        "acks": "all", "linger.ms": 2, "enable.idempotence": False, "message.timeout.ms": 30_000,
        "queue.buffering.max.messages": 1_000_000}))
    acked = []  # (sequence number, offset), in delivery-report order
    failed = []
    lock = threading.Lock()

    def on_delivery(err, msg):
        with lock:
            if err is None:
                acked.append((int(msg.value()), msg.offset()))
            else:
                failed.append(err)

    killed = threading.Event()
    sent = [0]

    def produce():
        i = 0
        while not killed.is_set():
            try:
                producer.produce(topic, key=b"k", value=b"%d" % i, partition=0, on_delivery=on_delivery)
                i += 1
            except BufferError:
                producer.poll(0.01)
                continue
            if i % 100 == 0:
                producer.poll(0)
                time.sleep(0.001)  # leave the broker room: a steady stream of small batches
        sent[0] = i

    thread = threading.Thread(target=produce)
    thread.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(acked) >= 20_000:
                break
        time.sleep(0.01)
    own_broker.kill()  # SIGKILL in the middle of production; returns once the process is gone
    killed.set()
    thread.join(30)
    # Nothing can be acknowledged by a dead broker: drop what is in flight and collect the reports received so far.
    producer.purge()
    producer.flush(10)
    with lock:
        acknowledged = list(acked)
    assert len(acknowledged) >= 20_000, f"only {len(acknowledged)} acknowledged before the deadline"
    assert sent[0] > len(acknowledged)

    own_broker.start()
    consumer = confluent_consumer(own_broker.bootstrap)
    try:
        low, high = consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=30)
    finally:
        consumer.close()
    assert low == 0 and high >= len(acknowledged)
    messages = confluent_consume(own_broker.bootstrap, topic, [0], high)
    values = [int(m.value()) for m in messages]
    by_offset = {m.offset(): int(m.value()) for m in messages}
    for seq, offset in acknowledged:
        assert by_offset.get(offset) == seq, f"acknowledged record {seq} at offset {offset} missing after the crash"
    acked_seqs = {seq for seq, _ in acknowledged}
    survivors = [v for v in values if v in acked_seqs]
    assert survivors == sorted(acked_seqs), "acknowledged records lost, duplicated or reordered"
    # The log holds a prefix of what was sent, with no duplicates at all (no retries happened before the kill).
    assert values == list(range(len(values)))
