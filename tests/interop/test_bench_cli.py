"""`spate bench produce|consume|e2e` against a real broker: the records land, the JSON summary has the documented keys."""

import json
import subprocess

from confluent_kafka.admin import AdminClient

from conftest import BINARY
from helpers import TIMEOUT, confluent_config

LATENCY_KEYS = {"p50", "p99", "p999", "max"}


def bench(bootstrap, *args):
    result = subprocess.run([str(BINARY), "bench", *args, "--brokers", bootstrap, "--json"], capture_output=True,
                            text=True, timeout=TIMEOUT)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bench_produce_then_consume_counts_every_record(broker, topic):
    produced = bench(broker.bootstrap, "produce", "--topic", topic, "--records", "3000", "--record-size", "100",
                     "--partitions", "3", "--acks", "1", "--compression", "lz4", "--producers", "2",
                     "--max-in-flight", "1")
    assert set(produced) == {"records", "records_per_sec", "mb_per_sec", "latency_ms"}
    assert produced["records"] == 3000 and produced["records_per_sec"] > 0
    assert set(produced["latency_ms"]) == LATENCY_KEYS
    assert 0 < produced["latency_ms"]["p50"] <= produced["latency_ms"]["p99"] <= produced["latency_ms"]["max"]
    metadata = AdminClient(confluent_config(broker.bootstrap)).list_topics(topic, timeout=TIMEOUT)
    assert len(metadata.topics[topic].partitions) == 3
    # 1,000 bytes per partition and fetch: one batch per partition per fetch (KIP-74), still every record.
    consumed = bench(broker.bootstrap, "consume", "--topic", topic, "--records", "3000", "--consumers", "2",
                     "--timeout", "10", "--max-partition-bytes", "1000")
    assert consumed["records"] == 3000 and consumed["latency_ms"] is None
    assert consumed["mb_per_sec"] > 0


def test_bench_e2e_measures_produce_to_consume_latency(broker, topic):
    result = bench(broker.bootstrap, "e2e", "--topic", topic, "--records", "500", "--rate", "500", "--acks", "1")
    assert result["records"] == 500
    assert set(result["latency_ms"]) == LATENCY_KEYS and result["latency_ms"]["max"] > 0


def test_bench_rejects_bad_options(broker, topic):
    for option, value in [("--acks", "2"), ("--max-in-flight", "0")]:
        result = subprocess.run([str(BINARY), "bench", "produce", "--topic", topic, option, value],
                                capture_output=True, text=True, timeout=TIMEOUT)
        assert result.returncode != 0 and option in result.stderr
