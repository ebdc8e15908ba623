"""One consumer-group member as its own process, so that a test can kill it with SIGKILL.

Prints one JSON object per line on stdout, flushed at once:
  {"event": "assigned", "partitions": [...], "all": [...]}   after every assignment change ("all": the whole set)
  {"event": "revoked", "partitions": [...], "all": [...]}
  {"event": "record", "partition": P, "offset": O, "value": "..."}   after the record is processed (and, with
                                                                     --commit each, committed synchronously)
  {"event": "committed", "partition": P, "offset": O}
  {"event": "commit_failed", "partition": P, "offset": O, "error": "..."}   (a rebalance fenced the commit)
Runs until stdin closes (a clean close: LeaveGroup, unless static) or it is killed. Debugging: `kill -USR1` prints
every thread's stack; TEST_LIBRDKAFKA_DEBUG and TEST_KAFKA_PYTHON_DEBUG turn on the clients' logs (on stderr).

usage: group_member.py BOOTSTRAP TOPIC GROUP [--client confluent|kafka-python] [--strategy S] [--protocol P]
                       [--instance ID] [--session-ms N] [--commit each|none] [--max N]
"""

import argparse
import faulthandler
import json
import os
import signal
import sys
import threading


def emit(**event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("bootstrap")
    parser.add_argument("topic")
    parser.add_argument("group")
    parser.add_argument("--client", default="confluent")
    parser.add_argument("--strategy", default=None)
    parser.add_argument("--protocol", default="classic")
    parser.add_argument("--instance", default=None)
    parser.add_argument("--session-ms", type=int, default=6000)
    parser.add_argument("--commit", default="each")
    parser.add_argument("--max", type=int, default=0, help="stop (cleanly) after this many records; 0: never")
    args = parser.parse_args()
    # `kill -USR1` prints every thread's stack to stderr (TEST_MEMBER_STDERR keeps it): for a member that hangs.
    faulthandler.register(signal.SIGUSR1, all_threads=True)

    stop = threading.Event()

    def watch_stdin():
        sys.stdin.read()
        stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    if args.client == "confluent":
        run_confluent(args, stop)
    else:
        run_kafka_python(args, stop)


def run_confluent(args, stop):
    import confluent_kafka

    config = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "group.protocol": args.protocol,
    }
    if args.protocol == "classic":
        config["session.timeout.ms"] = args.session_ms
        config["heartbeat.interval.ms"] = min(1000, args.session_ms // 3)
        if args.strategy:
            config["partition.assignment.strategy"] = args.strategy
    if args.instance:
        config["group.instance.id"] = args.instance
    if os.environ.get("TEST_LIBRDKAFKA_DEBUG"):
        # For debugging a test: librdkafka's debug contexts (e.g. "cgrp,protocol"), logged to stderr.
        config["debug"] = os.environ["TEST_LIBRDKAFKA_DEBUG"]
    consumer = confluent_kafka.Consumer(config)
    owned = set()

    def on_assign(c, partitions):
        if args.strategy == "cooperative-sticky" or args.protocol == "consumer":
            owned.update(p.partition for p in partitions)
        else:
            owned.clear()
            owned.update(p.partition for p in partitions)
        emit(event="assigned", partitions=sorted(p.partition for p in partitions), all=sorted(owned))

    def on_revoke(c, partitions):
        for p in partitions:
            owned.discard(p.partition)
        emit(event="revoked", partitions=sorted(p.partition for p in partitions), all=sorted(owned))

    consumer.subscribe([args.topic], on_assign=on_assign, on_revoke=on_revoke)
    count = 0
    while not stop.is_set():
        message = consumer.poll(0.2)
        if message is None:
            continue
        if message.error():
            emit(event="error", error=str(message.error()))
            continue
        if args.commit == "each":
            try:
                consumer.commit(message=message, asynchronous=False)
                emit(event="committed", partition=message.partition(), offset=message.offset() + 1)
            except confluent_kafka.KafkaException as error:
                # As a real application must: a commit can fail in a rebalance (a commit queued behind a JoinGroup
                # on the coordinator connection is checked against the next generation: ILLEGAL_GENERATION, as
                # against Apache Kafka). The record is still processed; its partition's next owner may see it again.
                emit(event="commit_failed", partition=message.partition(), offset=message.offset() + 1,
                     error=str(error))
        emit(event="record", partition=message.partition(), offset=message.offset(),
             value=(message.value() or b"").decode())
        count += 1
        if args.max and count >= args.max:
            break
    consumer.close()
    emit(event="closed")


def run_kafka_python(args, stop):
    import kafka
    from kafka import TopicPartition
    from kafka.consumer.subscription_state import ConsumerRebalanceListener

    if os.environ.get("TEST_KAFKA_PYTHON_DEBUG"):
        # For debugging a test: kafka-python's group coordinator and heartbeat logs on stderr.
        import logging
        logging.basicConfig(stream=sys.stderr, format="%(asctime)s %(name)s %(message)s")
        for name in os.environ["TEST_KAFKA_PYTHON_DEBUG"].split(","):
            logging.getLogger(name).setLevel(logging.DEBUG)
    config = dict(bootstrap_servers=args.bootstrap, group_id=args.group, auto_offset_reset="earliest",
                  enable_auto_commit=False, session_timeout_ms=args.session_ms,
                  heartbeat_interval_ms=min(1000, args.session_ms // 3))
    if args.instance:
        config["group_instance_id"] = args.instance
    consumer = kafka.KafkaConsumer(**config)
    owned = set()

    class Listener(ConsumerRebalanceListener):
        def on_partitions_revoked(self, revoked):
            for p in revoked:
                owned.discard(p.partition)
            emit(event="revoked", partitions=sorted(p.partition for p in revoked), all=sorted(owned))

        def on_partitions_assigned(self, assigned):
            owned.clear()
            owned.update(p.partition for p in assigned)
            emit(event="assigned", partitions=sorted(p.partition for p in assigned), all=sorted(owned))

    consumer.subscribe([args.topic], listener=Listener())
    count = 0
    while not stop.is_set():
        # Not 200 ms: kafka-python 3.0.12 loses the member's heartbeat when a poll's timeout runs out between a
        # successful SyncGroup and the point where it re-enables heartbeats ("coordinator.poll: timeout in
        # ensure_active_group; returning early"): the member keeps fetching, sends no heartbeat again, and the broker
        # expires it as it must. Seen under CPU load with TEST_KAFKA_PYTHON_DEBUG=kafka.coordinator; a longer poll
        # makes that window rare.
        batches = consumer.poll(timeout_ms=1000)
        for tp, messages in batches.items():
            for message in messages:
                if args.commit == "each":
                    from kafka.errors import KafkaError
                    from kafka.structs import OffsetAndMetadata
                    try:
                        consumer.commit({TopicPartition(tp.topic, tp.partition): OffsetAndMetadata(message.offset + 1, "", -1)})
                        emit(event="committed", partition=tp.partition, offset=message.offset + 1)
                    except KafkaError as error:  # CommitFailedError in a rebalance, as above
                        emit(event="commit_failed", partition=tp.partition, offset=message.offset + 1, error=str(error))
                emit(event="record", partition=tp.partition, offset=message.offset,
                     value=(message.value or b"").decode())
                count += 1
                if args.max and count >= args.max:
                    break
            if args.max and count >= args.max:
                break
        if args.max and count >= args.max:
            break
    consumer.close()
    emit(event="closed")


if __name__ == "__main__":
    main()
