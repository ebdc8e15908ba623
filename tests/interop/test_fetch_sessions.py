"""Consumers that keep fetching while records arrive on some partitions only: kafka-python uses incremental fetch
sessions (KIP-227), whose responses leave out the partitions with nothing new; librdkafka fetches without sessions."""

import time

from helpers import TIMEOUT, confluent_consumer, confluent_produce, create_topic, kp_consumer, make_records

PARTITIONS = 3
ROUNDS = 6
PER_ROUND = 500


def produce_round(bootstrap, topic, round_index):
    # Each round writes to one partition only, so the others stay unchanged between incremental fetches.
    partition = round_index % PARTITIONS
    records = make_records(PER_ROUND, with_headers=False)
    confluent_produce(bootstrap, topic, records, partition=partition)
    return partition


def test_kafka_python_follows_records_across_incremental_fetches(broker, topic):
    from kafka import TopicPartition as KTP
    create_topic(broker.bootstrap, topic, PARTITIONS)
    consumer = kp_consumer(broker.bootstrap, fetch_max_wait_ms=100)
    try:
        tps = [KTP(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        received = {p: [] for p in range(PARTITIONS)}
        expected = {p: 0 for p in range(PARTITIONS)}
        for round_index in range(ROUNDS):
            expected[produce_round(broker.bootstrap, topic, round_index)] += PER_ROUND
            deadline = time.monotonic() + TIMEOUT
            while any(len(received[p]) < expected[p] for p in received) and time.monotonic() < deadline:
                for tp, batch in consumer.poll(timeout_ms=200).items():
                    received[tp.partition].extend(m.offset for m in batch)
            # A few empty incremental fetches between rounds.
            for tp, batch in consumer.poll(timeout_ms=300).items():
                received[tp.partition].extend(m.offset for m in batch)
        for p in range(PARTITIONS):
            assert received[p] == list(range(expected[p])), f"partition {p}"
    finally:
        consumer.close()


def test_confluent_follows_records_across_fetches(broker, topic):
    from confluent_kafka import OFFSET_BEGINNING, KafkaError, TopicPartition
    create_topic(broker.bootstrap, topic, PARTITIONS)
    consumer = confluent_consumer(broker.bootstrap, **{"fetch.wait.max.ms": 100})
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(PARTITIONS)])
        received = {p: [] for p in range(PARTITIONS)}
        expected = {p: 0 for p in range(PARTITIONS)}
        for round_index in range(ROUNDS):
            expected[produce_round(broker.bootstrap, topic, round_index)] += PER_ROUND
            deadline = time.monotonic() + TIMEOUT
            while any(len(received[p]) < expected[p] for p in received) and time.monotonic() < deadline:
                for msg in consumer.consume(num_messages=1000, timeout=0.2):
                    if msg.error() is None:
                        received[msg.partition()].append(msg.offset())
                    elif msg.error().code() != KafkaError._PARTITION_EOF:
                        raise AssertionError(f"consume error: {msg.error()}")
        for p in range(PARTITIONS):
            assert received[p] == list(range(expected[p])), f"partition {p}"
    finally:
        consumer.close()
