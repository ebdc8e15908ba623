"""Topic and config administration with confluent-kafka's AdminClient, kafka-python's KafkaAdminClient and kcat:
CreateTopics, DeleteTopics, CreatePartitions, DescribeConfigs, AlterConfigs, IncrementalAlterConfigs (applied live),
DeleteRecords, DescribeCluster."""

import json
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry, ConfigResource, ConfigSource,
                                   NewPartitions, NewTopic, OffsetSpec, ResourceType)

from helpers import (TIMEOUT, Record, confluent_config, confluent_consume, confluent_consumer, confluent_produce,
                     create_topic, kcat, make_records, wait_for_topic)


def admin_client(bootstrap):
    return AdminClient(confluent_config(bootstrap))


def kafka_error(future):
    """The KafkaError a failed admin future raises."""
    with pytest.raises(KafkaException) as info:
        future.result(TIMEOUT)
    return info.value.args[0]


def watermarks(bootstrap, topic, partition=0):
    consumer = confluent_consumer(bootstrap)
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30, cached=False)
    finally:
        consumer.close()


def topic_configs(admin, topic):
    (future,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values()
    return future.result(TIMEOUT)


def wait_until(condition, timeout=20.0, interval=0.1, message="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"{message} not met within {timeout}s"
        time.sleep(interval)


def partition_count(admin, topic):
    return len(admin.list_topics(topic, timeout=30).topics[topic].partitions)


# --- confluent-kafka AdminClient ---------------------------------------------------------------------------

def test_create_topics_with_configs_and_replication_factors(broker, topic_name):
    admin = admin_client(broker.bootstrap)
    a, b = topic_name("rf1"), topic_name("rf-default")
    futures = admin.create_topics([
        NewTopic(a, num_partitions=3, replication_factor=1,
                 config={"cleanup.policy": "compact", "max.message.bytes": "20000", "retention.ms": "3600000"}),
        NewTopic(b, num_partitions=2, replication_factor=-1),
    ], operation_timeout=30)
    for f in futures.values():
        f.result(TIMEOUT)
    assert wait_for_topic(broker.bootstrap, a) == 3
    assert wait_for_topic(broker.bootstrap, b) == 2
    configs = topic_configs(admin, a)
    assert configs["cleanup.policy"].value == "compact"
    assert configs["max.message.bytes"].value == "20000"
    assert configs["retention.ms"].value == "3600000"
    for name in ("cleanup.policy", "max.message.bytes", "retention.ms"):
        assert configs[name].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value, name
        assert not configs[name].is_default, name
    assert configs["segment.bytes"].is_default
    # The topic already exists now.
    err = kafka_error(admin.create_topics([NewTopic(a, 3, 1)], operation_timeout=30)[a])
    assert err.code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_create_topics_validate_only(broker, topic):
    admin = admin_client(broker.bootstrap)
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)], validate_only=True,
                        operation_timeout=30)[topic].result(TIMEOUT)
    md = admin.list_topics(timeout=30)  # all topics: does not auto-create
    assert topic not in md.topics
    # A bad config is refused by validate_only as well.
    err = kafka_error(admin.create_topics([NewTopic(topic, 1, 1, config={"cleanup.policy": "bogus"})],
                                          validate_only=True, operation_timeout=30)[topic])
    assert err.code() == KafkaError.INVALID_CONFIG


def test_create_topic_replication_factor_3_refused(broker, topic):
    admin = admin_client(broker.bootstrap)
    err = kafka_error(admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=3)],
                                          operation_timeout=30)[topic])
    assert err.code() == KafkaError.INVALID_REPLICATION_FACTOR
    assert "3" in err.str() and "broker" in err.str(), err.str()
    assert topic not in admin.list_topics(timeout=30).topics


@pytest.mark.parametrize("name", ["", ".", "..", "has space", "bad/slash", "x" * 250, "é"])
def test_create_invalid_topic_names(broker, name):
    admin = admin_client(broker.bootstrap)
    err = kafka_error(admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)],
                                          operation_timeout=30)[name])
    assert err.code() == KafkaError.TOPIC_EXCEPTION, err


def test_delete_topic_then_recreate_empty(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 2)
    confluent_produce(broker.bootstrap, topic, make_records(100), partition=1)
    assert watermarks(broker.bootstrap, topic, 1) == (0, 100)
    admin.delete_topics([topic], operation_timeout=30)[topic].result(TIMEOUT)
    wait_until(lambda: topic not in admin.list_topics(timeout=30).topics, message="topic gone from metadata")
    err = kafka_error(admin.delete_topics([topic], operation_timeout=30)[topic])
    assert err.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    create_topic(broker.bootstrap, topic, 3)
    assert wait_for_topic(broker.bootstrap, topic) == 3
    for p in range(3):
        assert watermarks(broker.bootstrap, topic, p) == (0, 0)
    reports = confluent_produce(broker.bootstrap, topic, make_records(5), partition=1)
    assert [o for _, o in reports] == [0, 1, 2, 3, 4]


def test_create_partitions_then_produce_and_kcat(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1)
    admin.create_partitions([NewPartitions(topic, 4)], operation_timeout=30)[topic].result(TIMEOUT)
    wait_until(lambda: partition_count(admin, topic) == 4, message="4 partitions in metadata")
    reports = confluent_produce(broker.bootstrap, topic, make_records(10), partition=3)
    assert reports == [(3, i) for i in range(10)]
    assert len(confluent_consume(broker.bootstrap, topic, [3], 10)) == 10
    md = json.loads(kcat(broker.bootstrap, "-L", "-J", "-t", topic).stdout)
    (t,) = [t for t in md["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1, 2, 3]
    # Decreasing (or keeping) the count is refused, and changes nothing.
    for count in (2, 4):
        err = kafka_error(admin.create_partitions([NewPartitions(topic, count)], operation_timeout=30)[topic])
        assert err.code() == KafkaError.INVALID_PARTITIONS, err
    assert partition_count(admin, topic) == 4


def test_describe_configs_topic_and_broker(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1, config={"retention.ms": "7200000"})
    cluster = admin.describe_cluster().result(TIMEOUT)
    (node,) = cluster.nodes
    resources = [ConfigResource(ResourceType.TOPIC, topic), ConfigResource(ResourceType.BROKER, str(node.id))]
    futures = admin.describe_configs(resources)  # librdkafka always asks for synonyms
    by_type = {r.restype: f.result(TIMEOUT) for r, f in futures.items()}
    t, b = by_type[ResourceType.TOPIC], by_type[ResourceType.BROKER]
    retention = t["retention.ms"]
    assert retention.value == "7200000" and not retention.is_default
    assert retention.source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    synonyms = list(retention.synonyms.values())
    assert synonyms[0].name == "retention.ms" and synonyms[0].value == "7200000"
    assert any(s.name == "log.retention.hours" or s.name == "log.retention.ms" for s in synonyms[1:]), synonyms
    policy = t["cleanup.policy"]
    assert policy.value == "delete" and policy.is_default
    assert policy.source in (ConfigSource.DEFAULT_CONFIG.value, ConfigSource.STATIC_BROKER_CONFIG.value)
    assert t["max.message.bytes"].value == b["message.max.bytes"].value
    assert b["num.partitions"].value == "1"
    assert b["message.max.bytes"].source in (ConfigSource.DEFAULT_CONFIG.value,
                                             ConfigSource.STATIC_BROKER_CONFIG.value)
    # A topic that does not exist.
    missing = topic + "-missing"
    (f,) = admin.describe_configs([ConfigResource(ResourceType.TOPIC, missing)]).values()
    assert kafka_error(f).code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    assert missing not in admin.list_topics(timeout=30).topics


def test_alter_configs_max_message_bytes_live(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1)
    big = b"x" * 50_000
    confluent_produce(broker.bootstrap, topic, [Record(b"k", big, [])], partition=0)
    (f,) = admin.alter_configs([ConfigResource(ResourceType.TOPIC, topic,
                                               set_config={"max.message.bytes": "10000"})]).values()
    f.result(TIMEOUT)
    assert topic_configs(admin, topic)["max.message.bytes"].value == "10000"
    producer = Producer(confluent_config(broker.bootstrap, **{"linger.ms": 0, "message.timeout.ms": 20_000,
                                                             "compression.type": "none"}))
    errors = []
    producer.produce(topic, value=big, partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors
    # Small records still go through.
    confluent_produce(broker.bootstrap, topic, make_records(5, with_headers=False), partition=0)
    assert watermarks(broker.bootstrap, topic) == (0, 6)


def test_alter_retention_moves_earliest_offset(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1, config={"segment.bytes": "2000"})
    confluent_produce(broker.bootstrap, topic, make_records(500, with_headers=False), partition=0,
                      **{"linger.ms": 0, "batch.num.messages": 10})
    low, high = watermarks(broker.bootstrap, topic)
    assert (low, high) == (0, 500)
    time.sleep(0.05)
    (f,) = admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "1", incremental_operation=AlterConfigOpType.SET)])]).values()
    f.result(TIMEOUT)
    low = wait_until(lambda: watermarks(broker.bootstrap, topic)[0], message="earliest offset > 0")
    assert 0 < low <= 500
    # list_offsets agrees.
    tp = TopicPartition(topic, 0)
    earliest = admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(TIMEOUT).offset
    assert earliest >= low


def test_incremental_alter_cleanup_policy(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1)

    def alter(op, value):
        entry = ConfigEntry("cleanup.policy", value, incremental_operation=op)
        (f,) = admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, topic,
                                                               incremental_configs=[entry])]).values()
        f.result(TIMEOUT)
        return topic_configs(admin, topic)["cleanup.policy"]

    assert alter(AlterConfigOpType.SET, "compact").value == "compact"
    assert alter(AlterConfigOpType.APPEND, "delete").value == "compact,delete"
    assert alter(AlterConfigOpType.SUBTRACT, "compact").value == "delete"
    entry = alter(AlterConfigOpType.DELETE, None)
    assert entry.value == "delete" and entry.is_default
    # An invalid value is refused and changes nothing.
    bad = ConfigEntry("cleanup.policy", "bogus", incremental_operation=AlterConfigOpType.SET)
    (f,) = admin.incremental_alter_configs([ConfigResource(ResourceType.TOPIC, topic,
                                                           incremental_configs=[bad])]).values()
    assert kafka_error(f).code() == KafkaError.INVALID_CONFIG
    assert topic_configs(admin, topic)["cleanup.policy"].is_default


def test_alter_configs_replaces_whole_set(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 1, config={"retention.ms": "600000", "cleanup.policy": "compact"})
    (f,) = admin.alter_configs([ConfigResource(ResourceType.TOPIC, topic,
                                               set_config={"retention.ms": "900000"})]).values()
    f.result(TIMEOUT)
    configs = topic_configs(admin, topic)
    assert configs["retention.ms"].value == "900000"
    assert configs["cleanup.policy"].is_default  # legacy AlterConfigs resets what it does not name
    (f,) = admin.alter_configs([ConfigResource(ResourceType.TOPIC, topic, set_config={"retention.ms": "5"})],
                               validate_only=True).values()
    f.result(TIMEOUT)
    assert topic_configs(admin, topic)["retention.ms"].value == "900000"


def test_delete_records_moves_low_watermark(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 2)
    confluent_produce(broker.bootstrap, topic, make_records(100), partition=0)
    confluent_produce(broker.bootstrap, topic, make_records(50), partition=1)
    tp0, tp1 = TopicPartition(topic, 0, 40), TopicPartition(topic, 1, -1)  # -1: up to the high watermark
    results = admin.delete_records([tp0, tp1])
    by_partition = {tp.partition: f.result(TIMEOUT) for tp, f in results.items()}
    assert by_partition[0].low_watermark == 40
    assert by_partition[1].low_watermark == 50
    assert watermarks(broker.bootstrap, topic, 0) == (40, 100)
    assert watermarks(broker.bootstrap, topic, 1) == (50, 50)
    tp = TopicPartition(topic, 0)
    assert admin.list_offsets({tp: OffsetSpec.earliest()})[tp].result(TIMEOUT).offset == 40
    messages = confluent_consume(broker.bootstrap, topic, [0], 60)
    assert [m.offset() for m in messages] == list(range(40, 100))
    # Beyond the high watermark: OFFSET_OUT_OF_RANGE.
    (f,) = admin.delete_records([TopicPartition(topic, 0, 1000)]).values()
    assert kafka_error(f).code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_describe_cluster_and_list_topics(broker, topic):
    admin = admin_client(broker.bootstrap)
    create_topic(broker.bootstrap, topic, 2)
    cluster = admin.describe_cluster().result(TIMEOUT)
    (node,) = cluster.nodes
    assert (node.host, node.port) == broker.host_port
    assert cluster.controller.id == node.id
    assert cluster.cluster_id == admin.list_topics(timeout=30).cluster_id
    md = admin.list_topics(timeout=30)
    assert sorted(md.topics[topic].partitions) == [0, 1]


# --- kafka-python KafkaAdminClient -------------------------------------------------------------------------

@pytest.fixture
def kp_admin(broker):
    from kafka import KafkaAdminClient
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    yield admin
    admin.close()


def test_kafka_python_admin_topics_and_partitions(broker, kp_admin, topic):
    kp_admin.create_topics({topic: {"num_partitions": 2, "replication_factor": 1,
                                    "configs": {"retention.ms": "123456"}}})
    assert wait_for_topic(broker.bootstrap, topic) == 2
    kp_admin.create_partitions({topic: 5})
    admin = admin_client(broker.bootstrap)
    wait_until(lambda: partition_count(admin, topic) == 5, message="5 partitions")
    from kafka.errors import InvalidPartitionsError, InvalidReplicationFactorError, TopicAlreadyExistsError
    with pytest.raises(InvalidPartitionsError):
        kp_admin.create_partitions({topic: 3})
    with pytest.raises(TopicAlreadyExistsError):
        kp_admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}})
    with pytest.raises(InvalidReplicationFactorError):
        kp_admin.create_topics({topic + "-rf3": {"num_partitions": 1, "replication_factor": 3}})
    kp_admin.delete_topics([topic])
    wait_until(lambda: topic not in admin.list_topics(timeout=30).topics, message="topic deleted")


def test_kafka_python_admin_configs(broker, kp_admin, topic):
    from kafka.admin import ConfigResource as KConfigResource, ConfigResourceType
    create_topic(broker.bootstrap, topic, 1)
    result = kp_admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                     configs={"retention.ms": "654321", "cleanup.policy": "compact"})])
    assert result["topic"][topic] == "OK", result
    described = kp_admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    assert described["retention.ms"]["value"] == "654321"
    assert described["cleanup.policy"]["value"] == "compact"
    assert described["retention.ms"]["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    # Forcing the legacy AlterConfigs (the client re-sends the other modified keys).
    result = kp_admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                     configs={"retention.ms": "111111"})], incremental=False)
    assert result["topic"][topic] == "OK", result
    described = kp_admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
    assert described["retention.ms"]["value"] == "111111"
    assert described["cleanup.policy"]["value"] == "compact"
    all_configs = kp_admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)],
                                            config_filter="all")["topic"][topic]
    assert all_configs["segment.bytes"]["config_source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG")
    brokers = kp_admin.describe_cluster()["brokers"]
    broker_id = str(brokers[0]["broker_id"])
    broker_configs = kp_admin.describe_configs([KConfigResource(ConfigResourceType.BROKER, broker_id)],
                                               config_filter="all")["broker"][broker_id]
    assert broker_configs["num.partitions"]["value"] == "1"


def test_kafka_python_admin_delete_records(broker, kp_admin, topic):
    from kafka import TopicPartition as KTP
    create_topic(broker.bootstrap, topic, 1)
    confluent_produce(broker.bootstrap, topic, make_records(30), partition=0)
    result = kp_admin.delete_records({KTP(topic, 0): 12})
    (meta,) = result.values()
    assert meta["low_watermark"] == 12, result
    assert watermarks(broker.bootstrap, topic) == (12, 30)


def test_kafka_python_incremental_ops_and_synonyms(broker, kp_admin, topic):
    from kafka.admin import AlterConfigOp, ConfigResource as KConfigResource, ConfigResourceType
    kp_admin.create_topics({topic: {"num_partitions": 1, "replication_factor": 1}}, validate_only=True)
    assert topic not in admin_client(broker.bootstrap).list_topics(timeout=30).topics
    create_topic(broker.bootstrap, topic, 1)

    def alter(op, value=None):
        result = kp_admin.alter_configs([KConfigResource(ConfigResourceType.TOPIC, topic,
                                                         configs={"cleanup.policy": (op, value)})], incremental=True)
        assert result["topic"][topic] == "OK", result
        return kp_admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)], include_synonyms=True,
                                         config_filter="all")["topic"][topic]["cleanup.policy"]

    assert alter(AlterConfigOp.SET, "compact")["value"] == "compact"
    assert alter(AlterConfigOp.APPEND, "delete")["value"] == "compact,delete"
    entry = alter(AlterConfigOp.SUBTRACT, "compact")
    assert entry["value"] == "delete" and entry["config_source"] == "DYNAMIC_TOPIC_CONFIG"
    assert [s["name"] for s in entry["synonyms"]][:2] == ["cleanup.policy", "log.cleanup.policy"], entry
    entry = alter(AlterConfigOp.DELETE)
    assert entry["value"] == "delete" and entry["config_source"] in ("DEFAULT_CONFIG", "STATIC_BROKER_CONFIG")
