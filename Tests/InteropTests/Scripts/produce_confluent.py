"""Produces records with confluent-kafka (librdkafka from PyPI) and exits 0 once every one is acknowledged.

usage: produce_confluent.py BOOTSTRAP TOPIC CODEC COUNT
Record i has key "key-i", value "value-i-" followed by i % 7 'x's (record 0 has a null value), and one header
("h", "hv-i"); the test checks these exact records.
"""
import sys

from confluent_kafka import Producer

bootstrap, topic, codec, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
producer = Producer({
    "bootstrap.servers": bootstrap,
    "compression.type": codec,
    "linger.ms": 5,
    "enable.idempotence": False,
    "message.timeout.ms": 20000,
})
failures = []


def delivered(err, msg):
    if err is not None:
        failures.append(err)


for i in range(count):
    value = None if i == 0 else ("value-%d-" % i + "x" * (i % 7)).encode()
    producer.produce(topic, key=("key-%d" % i).encode(), value=value, headers=[("h", ("hv-%d" % i).encode())],
                     on_delivery=delivered)
    producer.poll(0)
remaining = producer.flush(20)
if remaining or failures:
    print("undelivered: %d, failures: %s" % (remaining, failures), file=sys.stderr)
    sys.exit(1)
