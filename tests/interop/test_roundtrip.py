"""100,000 records round trip, with keys, null values and headers, through each client and each compression codec."""

import pytest

from helpers import (CODECS, confluent_consume, confluent_produce, confluent_record, kcat, kcat_consume_json,
                     kp_consume, kp_produce, kp_record, make_records, wait_for_topic)

COUNT = 100_000


@pytest.fixture(scope="module")
def records():
    return make_records(COUNT)


@pytest.mark.parametrize("codec", CODECS)
def test_confluent_roundtrip(broker, topic, records, codec):
    reports = confluent_produce(broker.bootstrap, topic, records, partition=0, **{"compression.type": codec})
    assert [offset for _, offset in reports] == list(range(COUNT))
    messages = confluent_consume(broker.bootstrap, topic, [0], COUNT)
    assert [m.offset() for m in messages] == list(range(COUNT))
    assert [confluent_record(m) for m in messages] == [r.as_tuple() for r in records]


@pytest.mark.parametrize("codec", CODECS)
def test_kafka_python_roundtrip(broker, topic, records, codec):
    reports = kp_produce(broker.bootstrap, topic, records, partition=0,
                         compression_type=None if codec == "none" else codec, batch_size=256 * 1024)
    assert [offset for _, offset in reports] == list(range(COUNT))
    messages, api_version = kp_consume(broker.bootstrap, topic, [0], COUNT)
    assert api_version >= (4, 0), f"kafka-python detected {api_version}"
    assert [m.offset for m in messages] == list(range(COUNT))
    assert [kp_record(m) for m in messages] == [r.as_tuple() for r in records]


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_roundtrip(broker, topic, codec, tmp_path):
    # kcat reads "key<TAB>value" lines; -Z turns empty values into nulls; -H adds the same headers to every record.
    lines = []
    expected = []
    for i in range(COUNT):
        key = "key-%d" % i
        value = "" if i % 7 == 3 else ("value %d " % i) * (1 + i % 5)
        lines.append(f"{key}\t{value}")
        expected.append((key, value or None))
    data = ("\n".join(lines) + "\n").encode()
    kcat(broker.bootstrap, "-P", "-t", topic, "-p", "0", "-z", codec, "-K", "\t", "-Z",
         "-H", "origin=interop", "-H", "codec=" + codec, "-X", "linger.ms=5", input=data)
    out = kcat_consume_json(broker.bootstrap, topic, "-p", "0", "-o", "beginning")
    assert len(out) == COUNT
    assert [m["offset"] for m in out] == list(range(COUNT))
    assert [(m["key"], m["payload"]) for m in out] == expected
    assert all(m["headers"] == ["origin", "interop", "codec", codec] for m in out)
