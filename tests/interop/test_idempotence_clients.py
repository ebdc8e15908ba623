"""Idempotent producers with the clients' own defaults (kafka-python 3 and librdkafka), across a graceful restart and
a SIGKILL; and topic configs set with AlterConfigs surviving restarts."""

import threading
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from helpers import (TIMEOUT, confluent_config, confluent_consume, confluent_consumer, create_topic, kp_consume,
                     make_records)


def high_watermark(bootstrap, topic, partition=0):
    consumer = confluent_consumer(bootstrap)
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30, cached=False)[1]
    finally:
        consumer.close()


def active_producers(bootstrap, topic, partition=0):
    from kafka import KafkaAdminClient, TopicPartition as KTP
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        (state,) = admin.describe_producers([KTP(topic, partition)]).values()
        return state.active_producers
    finally:
        admin.close()


def test_kafka_python_default_producer_is_idempotent(broker, topic):
    from kafka import KafkaProducer
    create_topic(broker.bootstrap, topic, 1)
    records = make_records(3_000)
    producer = KafkaProducer(bootstrap_servers=broker.bootstrap, linger_ms=5)  # every default: idempotent, acks=all
    try:
        assert producer.config["enable_idempotence"] is True
        futures = [producer.send(topic, key=r.key, value=r.value, headers=list(r.headers), partition=0)
                   for r in records]
        producer.flush(TIMEOUT)
        assert [f.get(TIMEOUT).offset for f in futures] == list(range(len(records)))
    finally:
        producer.close(timeout=10)
    messages, _ = kp_consume(broker.bootstrap, topic, [0], len(records))
    assert [(m.key, m.value) for m in messages] == [(r.key, r.value) for r in records]
    (state,) = active_producers(broker.bootstrap, topic)
    assert state.producer_id >= 0 and state.producer_epoch == 0
    assert state.last_sequence == len(records) - 1


def test_confluent_idempotent_producer_exactly_once(broker, topic):
    create_topic(broker.bootstrap, topic, 2)
    producer = Producer(confluent_config(broker.bootstrap, **{"enable.idempotence": True, "linger.ms": 2}))
    errors = []
    for i in range(10_000):
        while True:
            try:
                producer.produce(topic, key=b"%d" % i, value=b"%d" % i, partition=i % 2,
                                 on_delivery=lambda err, msg: err and errors.append(err))
                break
            except BufferError:
                producer.poll(0.05)
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0 and not errors, errors[:3]
    for p in (0, 1):
        messages = confluent_consume(broker.bootstrap, topic, [p], 5_000)
        assert [int(m.value()) for m in messages] == list(range(p, 10_000, 2))
        (state,) = active_producers(broker.bootstrap, topic, p)
        assert state.last_sequence == 4_999


class ProducingThread:
    """A librdkafka idempotent producer sending 0, 1, 2, ... to partition 0 from a thread, recording acknowledgements."""

    def __init__(self, bootstrap, topic, start=0):
        self.producer = Producer(confluent_config(bootstrap, **{
            "enable.idempotence": True, "acks": "all", "linger.ms": 2, "message.timeout.ms": 120_000,
            "reconnect.backoff.max.ms": 200, "queue.buffering.max.messages": 1_000_000}))
        self.topic, self.next = topic, start
        self.acked, self.failed = [], []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _on_delivery(self, err, msg):
        with self.lock:
            if err is None:
                self.acked.append((int(msg.value()), msg.offset()))
            else:
                self.failed.append(err)

    def _run(self):
        while not self.stopping.is_set():
            try:
                self.producer.produce(self.topic, value=b"%d" % self.next, partition=0, on_delivery=self._on_delivery)
                self.next += 1
            except BufferError:
                self.producer.poll(0.01)
                continue
            if self.next % 100 == 0:
                self.producer.poll(0)
                time.sleep(0.002)

    def acked_count(self):
        with self.lock:
            return len(self.acked)

    def wait_acked(self, count, timeout=60):
        deadline = time.monotonic() + timeout
        while self.acked_count() < count:
            assert time.monotonic() < deadline, f"only {self.acked_count()} of {count} acknowledged"
            with self.lock:
                assert not self.failed, self.failed[:3]
            time.sleep(0.01)

    def stop(self, flush=True):
        self.stopping.set()
        self.thread.join(30)
        if flush:
            assert self.producer.flush(TIMEOUT) == 0, "records not delivered"
        else:
            self.producer.purge()
            self.producer.flush(10)


def log_values(bootstrap, topic):
    high = high_watermark(bootstrap, topic)
    return [int(m.value()) for m in confluent_consume(bootstrap, topic, [0], high)]


def test_confluent_idempotent_producer_across_graceful_restart(own_broker, topic):
    create_topic(own_broker.bootstrap, topic, 1)
    producing = ProducingThread(own_broker.bootstrap, topic)
    producing.wait_acked(5_000)
    own_broker.restart()
    before = producing.acked_count()
    producing.wait_acked(before + 5_000)  # the same producer carries on after the restart
    producing.stop()
    assert not producing.failed, producing.failed[:3]
    # Every record sent was delivered, exactly once and in order, at the offsets acknowledged.
    values = log_values(own_broker.bootstrap, topic)
    assert values == list(range(producing.next))
    assert sorted(producing.acked) == [(i, i) for i in range(producing.next)]


def test_confluent_idempotent_producer_across_kill(own_broker, topic):
    create_topic(own_broker.bootstrap, topic, 1)
    producing = ProducingThread(own_broker.bootstrap, topic)
    producing.wait_acked(10_000)
    own_broker.kill()
    producing.stop(flush=False)
    with producing.lock:
        acknowledged = list(producing.acked)
    own_broker.start()
    values = log_values(own_broker.bootstrap, topic)
    # Acknowledged records are all there, exactly once; the log is a prefix of what was sent with no duplicates.
    assert values == list(range(len(values)))
    by_value = set(values)
    for seq, offset in acknowledged:
        assert seq in by_value and values[offset] == seq, f"acknowledged record {seq}@{offset} lost"
    # A new idempotent producer continues after the crash without duplicates.
    start = len(values)
    producing = ProducingThread(own_broker.bootstrap, topic, start=start)
    producing.wait_acked(3_000)
    producing.stop()
    assert not producing.failed, producing.failed[:3]
    assert log_values(own_broker.bootstrap, topic) == list(range(producing.next))


def test_confluent_idempotent_producer_keeps_producing_across_kill(own_broker, topic):
    # The same producer, through the crash: what was in flight is retried once the broker is back, and what the
    # broker had already written is recognised as a duplicate, so the log ends up exactly what was sent.
    create_topic(own_broker.bootstrap, topic, 1)
    producing = ProducingThread(own_broker.bootstrap, topic)
    producing.wait_acked(10_000)
    own_broker.kill()
    with producing.lock:
        acknowledged = list(producing.acked)
    time.sleep(0.5)
    own_broker.start()
    producing.wait_acked(len(acknowledged) + 5_000)
    producing.stop()
    assert not producing.failed, producing.failed[:3]
    values = log_values(own_broker.bootstrap, topic)
    for seq, offset in acknowledged:
        assert values[offset] == seq, f"acknowledged record {seq}@{offset} lost"
    assert values == list(range(producing.next))


@pytest.mark.parametrize("how", ["restart", "kill"])
def test_altered_topic_configs_survive(own_broker, topic, how):
    admin = AdminClient(confluent_config(own_broker.bootstrap))
    create_topic(own_broker.bootstrap, topic, 1, config={"segment.bytes": "1048576"})
    resource = ConfigResource(ResourceType.TOPIC, topic,
                              set_config={"retention.ms": "86400001", "cleanup.policy": "compact",
                                          "max.message.bytes": "12345"})
    (f,) = admin.alter_configs([resource]).values()
    f.result(TIMEOUT)
    if how == "restart":
        own_broker.restart()
    else:
        own_broker.kill()
        own_broker.start()
    admin = AdminClient(confluent_config(own_broker.bootstrap))
    (f,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    configs = f.result(TIMEOUT)
    assert configs["retention.ms"].value == "86400001"
    assert configs["cleanup.policy"].value == "compact"
    assert configs["max.message.bytes"].value == "12345"
    assert configs["segment.bytes"].is_default  # AlterConfigs replaced the whole set
