"""SpateClient and the `spate` client subcommands against `spate serve`, checked with real clients: records produced by
`spate produce` are read intact by kcat and confluent-kafka and the reverse; keys land where librdkafka's
`murmur2_random` partitioner puts them; the topic commands, pipes, errors and exit codes of the real binary."""

import json
import random
import signal
import socket
import subprocess
import time

import pytest
from confluent_kafka import Producer, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource

from conftest import BINARY
from helpers import (CODECS, TIMEOUT, confluent_config, confluent_consume, confluent_produce, confluent_record,
                     create_topic, kcat_consume_json, make_records)


def spate(bootstrap, *args, input=None, timeout=TIMEOUT, check=True):
    """Runs the real `spate` binary with --brokers; returns the CompletedProcess (stdout/stderr as text)."""
    result = subprocess.run([str(BINARY), *args, "--brokers", bootstrap], input=input, capture_output=True,
                            timeout=timeout, text=True)
    if check:
        assert result.returncode == 0, f"spate {' '.join(args)} exited {result.returncode}: {result.stderr}"
    return result


def closed_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def partitions_of(bootstrap, topic):
    admin = AdminClient(confluent_config(bootstrap))
    return len(admin.list_topics(topic, timeout=10).topics[topic].partitions)


def high_watermark(bootstrap, topic, partition=0):
    from helpers import confluent_consumer
    consumer = confluent_consumer(bootstrap)
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)[1]
    finally:
        consumer.close()


# --- partitioner --------------------------------------------------------------------------------------------

KEY_COUNT = 10_000
PARTITIONS = 7


def partition_keys():
    rng = random.Random(6)
    alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.é€"
    keys = set()
    while len(keys) < KEY_COUNT:
        keys.add("".join(rng.choice(alphabet) for _ in range(rng.randint(1, 40))))
    return sorted(keys)


def test_partitioner_matches_librdkafka_murmur2_random(broker, topic_name):
    keys = partition_keys()
    theirs, ours = topic_name("librdkafka"), topic_name("spate")
    for t in (theirs, ours):
        spate(broker.bootstrap, "topic", "create", t, "--partitions", str(PARTITIONS))

    # librdkafka's choice: the partition in each delivery report.
    producer = Producer(confluent_config(broker.bootstrap, **{"partitioner": "murmur2_random", "linger.ms": 5}))
    chosen = {}

    def report(err, msg):
        assert err is None, err
        chosen[msg.key().decode()] = msg.partition()

    for key in keys:
        producer.produce(theirs, key=key.encode(), value=b"x", on_delivery=report)
        producer.poll(0)
    assert producer.flush(TIMEOUT) == 0

    # SpateClient's choice, through `spate produce`, read back with `spate consume`.
    spate(broker.bootstrap, "produce", ours, "--key-separator", "\t",
          input="".join(f"{key}\tx\n" for key in keys))
    out = spate(broker.bootstrap, "consume", ours, "--from", "beginning", "--count", str(KEY_COUNT),
                "--format", "json", "--timeout", "30").stdout
    spate_chosen = {}
    for line in out.splitlines():
        record = json.loads(line)
        spate_chosen[record["key"]] = record["partition"]

    assert len(chosen) == KEY_COUNT and len(spate_chosen) == KEY_COUNT
    mismatches = [k for k in keys if chosen[k] != spate_chosen[k]]
    assert not mismatches, f"{len(mismatches)} keys differ, e.g. {mismatches[:5]}"
    assert len(set(chosen.values())) == PARTITIONS


# --- interop both ways --------------------------------------------------------------------------------------

COUNT = 3000


def cli_lines(n):
    """Lines for `spate produce --key-separator '|'`: keyed except every fifth line (no separator: no key)."""
    lines, expected = [], []
    for i in range(n):
        value = f"value {i} " * (1 + i % 4) + "ünïcødé"
        if i % 5 == 0:
            lines.append(value)
            expected.append((None, value))
        else:
            lines.append(f"key-{i}|{value}")
            expected.append((f"key-{i}", value))
    return "".join(line + "\n" for line in lines), expected


@pytest.mark.parametrize("codec", CODECS)
def test_spate_produced_records_read_by_confluent_and_kcat(broker, topic, codec):
    text, expected = cli_lines(COUNT)
    spate(broker.bootstrap, "produce", topic, "--partition", "0", "--key-separator", "|", "--compression", codec,
          "--header", "origin=spate", "--header", "codec=" + codec, input=text)
    headers = (("origin", b"spate"), ("codec", codec.encode()))
    messages = confluent_consume(broker.bootstrap, topic, [0], COUNT)
    assert [m.offset() for m in messages] == list(range(COUNT))
    assert [confluent_record(m) for m in messages] == [
        (k.encode() if k is not None else None, v.encode(), headers) for k, v in expected]

    out = kcat_consume_json(broker.bootstrap, topic, "-p", "0", "-o", "beginning")
    assert [m["offset"] for m in out] == list(range(COUNT))
    assert [(m["key"], m["payload"]) for m in out] == expected
    assert all(m["headers"] == ["origin", "spate", "codec", codec] for m in out)


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_produced_records_read_by_spate(broker, topic, codec):
    records = make_records(COUNT)
    confluent_produce(broker.bootstrap, topic, records, partition=0, **{"compression.type": codec})
    out = spate(broker.bootstrap, "consume", topic, "--from", "beginning", "--count", str(COUNT), "--format", "json",
                "--timeout", "30").stdout.splitlines()
    assert len(out) == COUNT
    got = [json.loads(line) for line in out]
    assert [g["offset"] for g in got] == list(range(COUNT))
    assert all(g["topic"] == topic and g["partition"] == 0 for g in got)
    assert all(set(g) == {"topic", "partition", "offset", "timestamp", "key", "value", "headers"} for g in got)
    for g, r in zip(got, records):
        assert g["key"] == r.key.decode()
        assert g["value"] == (None if r.value is None else r.value.decode())
        assert [(h["key"], h["value"].encode()) for h in g["headers"]] == list(r.headers)


def test_spate_consume_from_offset_timestamp_and_end(broker, topic):
    create_topic(broker.bootstrap, topic, 1)
    producer = Producer(confluent_config(broker.bootstrap))
    for i in range(10):
        producer.produce(topic, value=b"v%d" % i, partition=0, timestamp=1_600_000_000_000 + i * 1000)
    assert producer.flush(TIMEOUT) == 0

    def values(*args):
        out = spate(broker.bootstrap, "consume", topic, *args, "--timeout", "2").stdout
        return out.splitlines()

    assert values("--from", "7") == ["v7", "v8", "v9"]
    assert values("--from", "@1600000004500") == ["v5", "v6", "v7", "v8", "v9"]
    assert values("--from", "beginning", "--count", "2") == ["v0", "v1"]
    assert values("--from", "end") == []
    assert values("--from", "beginning", "--partition", "0", "--count", "1", "--format", "kv",
                  "--key-separator", "=") == ["=v0"]


# --- CLI ----------------------------------------------------------------------------------------------------

def test_cli_topic_lifecycle(broker, topic):
    b = broker.bootstrap
    out = spate(b, "topic", "create", topic, "--partitions", "3", "--replication-factor", "1",
                "--config", "retention.ms=3600000", "--config", "cleanup.policy=delete").stdout
    assert topic in out
    listed = spate(b, "topic", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "PARTITIONS", "REPLICAS"]
    assert [topic, "3", "1"] in [line.split() for line in listed[1:]]

    described = spate(b, "topic", "describe", topic).stdout
    assert "retention.ms=3600000" in described
    rows = [line.split() for line in described.splitlines()]
    header = rows.index(["PARTITION", "LEADER", "EPOCH", "REPLICAS", "ISR", "LOG-START", "HIGH-WATERMARK"])
    assert [r[0] for r in rows[header + 1:]] == ["0", "1", "2"]

    spate(b, "topic", "alter-config", topic, "--set", "retention.ms=7200000", "--set", "segment.ms=600000",
          "--delete", "cleanup.policy")
    admin = AdminClient(confluent_config(b))
    configs = admin.describe_configs([ConfigResource("topic", topic)])
    entries = list(configs.values())[0].result(TIMEOUT)
    assert entries["retention.ms"].value == "7200000"
    assert entries["segment.ms"].value == "600000"
    assert entries["cleanup.policy"].is_default

    spate(b, "topic", "add-partitions", topic, "--total", "5")
    assert partitions_of(b, topic) == 5
    shrink = spate(b, "topic", "add-partitions", topic, "--total", "2", check=False)
    assert shrink.returncode == 1 and "INVALID_PARTITIONS" in shrink.stderr

    duplicate = spate(b, "topic", "create", topic, check=False)
    assert duplicate.returncode == 1 and "TOPIC_ALREADY_EXISTS" in duplicate.stderr

    spate(b, "topic", "delete", topic)
    assert topic not in spate(b, "topic", "list").stdout.split()


def test_cli_unknown_topic_is_a_friendly_error(broker, topic_name):
    missing = topic_name("missing")
    for args in (["topic", "describe", missing], ["topic", "delete", missing],
                 ["topic", "alter-config", missing, "--set", "retention.ms=1"],
                 ["consume", missing, "--from", "beginning", "--timeout", "1"]):
        result = spate(broker.bootstrap, *args, check=False, timeout=30)
        assert result.returncode == 3, f"{args}: {result.returncode} {result.stderr}"
        assert result.stderr.startswith("spate: error:") and missing in result.stderr
        assert "UNKNOWN_TOPIC_OR_PARTITION" in result.stderr
    assert missing not in spate(broker.bootstrap, "topic", "list").stdout


@pytest.mark.parametrize("args", [["topic", "list"], ["cluster", "info"], ["produce", "t"],
                                  ["consume", "t", "--from", "beginning"]])
def test_cli_unreachable_broker_fails_within_the_timeout(args):
    start = time.monotonic()
    result = subprocess.run([str(BINARY), *args, "--brokers", f"127.0.0.1:{closed_port()}", "--client-timeout", "2"],
                            input="x\n", capture_output=True, text=True, timeout=30)
    elapsed = time.monotonic() - start
    assert result.returncode == 2, result.stderr
    assert "cannot reach the broker(s) at 127.0.0.1:" in result.stderr
    assert "Connection refused" in result.stderr
    assert elapsed < 6, f"took {elapsed:.1f}s with --client-timeout 2"


def test_cli_brokers_from_environment_and_before_the_subcommand(broker, topic):
    import os
    env = {**os.environ, "SPATE_BROKERS": broker.bootstrap}
    subprocess.run([str(BINARY), "topic", "create", topic], env=env, check=True, capture_output=True, timeout=TIMEOUT)
    out = subprocess.run([str(BINARY), "--brokers", broker.bootstrap, "topic", "list"], check=True,
                         capture_output=True, text=True, timeout=TIMEOUT).stdout
    assert topic in out.split()


def test_cli_produce_consume_round_trip_through_pipes(broker, topic):
    spate(broker.bootstrap, "topic", "create", topic, "--partitions", "3")
    script = (f"seq 1 5000 | sed 's/.*/key-&:value-&/' | '{BINARY}' produce {topic} --brokers {broker.bootstrap} "
              f"--key-separator : --acks 1 --compression lz4 && "
              f"'{BINARY}' consume {topic} --brokers {broker.bootstrap} --from beginning --count 5000 --format kv "
              f"--key-separator : | sort -t- -k2 -n | head -n 5000")
    result = subprocess.run(["bash", "-o", "pipefail", "-c", script], capture_output=True, text=True,
                            timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert sorted(lines) == sorted(f"key-{i}:value-{i}" for i in range(1, 5001))
    assert len(set(lines)) == 5000


def test_cli_produce_file_and_headers(broker, topic, tmp_path):
    path = tmp_path / "records.txt"
    path.write_text("a\nb\r\nc\n")
    spate(broker.bootstrap, "produce", topic, "--file", str(path), "--header", "k=v", "--header", "k=w",
          "--acks", "0")
    got = [json.loads(line) for line in spate(broker.bootstrap, "consume", topic, "--from", "beginning",
                                              "--count", "3", "--format", "json").stdout.splitlines()]
    assert [g["value"] for g in got] == ["a", "b", "c"]
    assert all(g["key"] is None for g in got)
    assert all(g["headers"] == [{"key": "k", "value": "v"}, {"key": "k", "value": "w"}] for g in got)


def test_cli_cluster_info(broker):
    out = spate(broker.bootstrap, "cluster", "info").stdout
    assert "CLUSTER ID" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["1", "127.0.0.1", str(broker.port), "-"] in rows


@pytest.mark.parametrize("path", [[], ["topic"], ["topic", "create"], ["topic", "list"], ["topic", "describe"],
                                  ["topic", "alter-config"], ["topic", "add-partitions"], ["topic", "delete"],
                                  ["produce"], ["consume"], ["cluster"], ["cluster", "info"], ["serve"]])
def test_cli_help_has_examples(path):
    result = subprocess.run([str(BINARY), *path, "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "Examples:" in result.stdout
    if path and path[0] != "serve" and path[-1] not in ("topic", "cluster"):
        assert "--brokers" in result.stdout


def test_cli_bad_arguments_exit_nonzero(broker, topic):
    for args in (["produce", topic, "--compression", "brotli"], ["produce", topic, "--acks", "2"],
                 ["consume", topic, "--from", "yesterday"], ["topic", "create", topic, "--config", "novalue"]):
        result = spate(broker.bootstrap, *args, check=False)
        assert result.returncode == 64, f"{args}: {result.returncode} {result.stderr}"


# --- idempotence across a crash -----------------------------------------------------------------------------

def test_spate_produce_keeps_order_without_duplicates_across_kill(own_broker, topic):
    """`spate produce` (idempotent, acks=all) keeps producing while the broker is killed and restarted: what was in
    flight is retried with its sequence numbers, so the log is exactly the input, in order."""
    spate(own_broker.bootstrap, "topic", "create", topic, "--partitions", "1")
    process = subprocess.Popen([str(BINARY), "produce", topic, "--brokers", own_broker.bootstrap,
                                "--client-timeout", "60", "--linger-ms", "1"],
                               stdin=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sent = 0

    def send(n):
        nonlocal sent
        process.stdin.write("".join(f"{i}\n" for i in range(sent, sent + n)))
        process.stdin.flush()
        sent += n

    def wait_for_high_watermark(at_least):
        deadline = time.monotonic() + TIMEOUT
        while high_watermark(own_broker.bootstrap, topic) < at_least:
            assert time.monotonic() < deadline, f"the log did not reach {at_least} records"
            time.sleep(0.05)

    try:
        for _ in range(20):
            send(500)
        wait_for_high_watermark(2_000)   # mid-stream: more is in flight or queued
        own_broker.kill()
        send(2_000)                      # accepted while the broker is down
        own_broker.start()
        send(3_000)
        process.stdin.close()
        assert process.wait(TIMEOUT) == 0, process.stderr.read()
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
    values = [int(m.value()) for m in confluent_consume(own_broker.bootstrap, topic, [0], sent)]
    assert values == list(range(sent))
