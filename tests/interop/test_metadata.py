"""Metadata through each client: the broker list, the cluster ID, and auto-created topics."""

import json
import struct

from confluent_kafka.admin import AdminClient

from helpers import confluent_config, frame, kcat, raw_connect, read_frame, wait_for_topic


def cluster_id_on_disk(broker):
    for line in (broker.data_dir / "meta.properties").read_text().splitlines():
        if line.startswith("cluster.id="):
            return line.split("=", 1)[1].strip()
    raise AssertionError("no cluster.id in meta.properties")


def test_confluent_metadata(broker, topic):
    admin = AdminClient(confluent_config(broker.bootstrap))
    md = admin.list_topics(topic, timeout=30)  # a Metadata request naming the topic auto-creates it
    assert list(md.brokers) == [md.controller_id]
    (b,) = md.brokers.values()
    assert (b.host, b.port) == broker.host_port
    assert md.cluster_id == cluster_id_on_disk(broker)
    assert wait_for_topic(broker.bootstrap, topic) == 1
    listed = admin.list_topics(timeout=30)
    assert topic in listed.topics
    (p,) = listed.topics[topic].partitions.values()
    assert p.leader == b.id and p.replicas == [b.id] and p.isrs == [b.id]


def test_kafka_python_metadata(broker, topic):
    from kafka import KafkaAdminClient, KafkaConsumer
    consumer = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        # api_version auto-detection from ApiVersions must settle on a modern protocol (ListOffsets v10 means 4.0).
        assert consumer.config["api_version"] >= (4, 0), consumer.config["api_version"]
        assert consumer.partitions_for_topic(topic) in (None, set())  # not yet existing: the probe may create it
        assert wait_for_topic(broker.bootstrap, topic) == 1
        assert topic in consumer.topics()
        assert consumer.partitions_for_topic(topic) == {0}
    finally:
        consumer.close()
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        cluster = admin.describe_cluster()
        assert cluster["cluster_id"] == cluster_id_on_disk(broker)
        (b,) = cluster["brokers"]
        assert (b["host"], b["port"]) == broker.host_port
        assert cluster["controller_id"] == b["broker_id"]
    finally:
        admin.close()


def test_kcat_metadata(broker, topic):
    # kcat -L -t asks for the topic by name, which auto-creates it.
    kcat(broker.bootstrap, "-L", "-t", topic)
    assert wait_for_topic(broker.bootstrap, topic) == 1
    md = json.loads(kcat(broker.bootstrap, "-L", "-J").stdout)
    (b,) = md["brokers"]
    assert b["name"] == broker.bootstrap
    assert md["controllerid"] == b["id"]
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert [p["partition"] for p in t["partitions"]] == [0]
    assert t["partitions"][0]["leader"] == b["id"]


def test_metadata_v12_all_topics_as_librdkafka_sends_it(broker, topic):
    # librdkafka (confluentinc/librdkafka#5049) writes the null topic array of an "all topics" Metadata v9+ request
    # as 4 zero bytes instead of one varint 0. Kafka reads the null array and ignores the 3 bytes left over; Spate
    # closed the connection on them (leftoverBytes(3)), breaking AdminClient.list_topics() and periodic refreshes.
    wait_for_topic(broker.bootstrap, topic)
    header = struct.pack(">hhih", 3, 12, 42, 7) + b"rdkafka" + b"\x00"
    body = b"\x00\x00\x00\x00" + b"\x01" + b"\x00" + b"\x00"
    with raw_connect(broker.host_port) as s:
        s.sendall(frame(header + body))
        response = read_frame(s)
    assert struct.unpack(">i", response[:4])[0] == 42
    assert topic.encode() in response
