"""`spate serve` configuration: Kafka property names from a file, SPATE_* variables, --set and flags, in that order
of precedence; an unknown or invalid setting stops start-up with a message that names it."""
import os
import signal
import socket
import subprocess
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import BINARY, STARTED_LINE, free_port

START_TIMEOUT = 30


def run_serve(tmp_path, args=(), env=None):
    """Starts `spate serve` on a free port; returns (process, bootstrap) once it logs that it accepts connections."""
    port = free_port()
    command = [str(BINARY), "serve", "--data-dir", str(tmp_path / "data"), *args]
    if "--listener" not in args:
        command += ["--listener", f"127.0.0.1:{port}"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, **(env or {})})
    started = threading.Event()
    lines = []

    def pump():
        for line in process.stderr:
            lines.append(line)
            if STARTED_LINE in line:
                started.set()

    threading.Thread(target=pump, daemon=True).start()
    assert started.wait(START_TIMEOUT), f"no start-up line: {''.join(lines)}"
    return process, f"127.0.0.1:{port}"


def stop(process):
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0


def refused(tmp_path, args, env=None):
    """Runs `spate serve` expecting it to refuse to start; returns its stderr."""
    result = subprocess.run([str(BINARY), "serve", "--data-dir", str(tmp_path / "data"), *args],
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30,
                            env={**os.environ, **(env or {})})
    assert result.returncode != 0, f"started despite {args} {env}"
    return result.stderr


def auto_created_partitions(bootstrap, topic):
    producer = Producer({"bootstrap.servers": bootstrap, "allow.auto.create.topics": True})
    producer.list_topics(topic, timeout=10)  # Metadata with auto-creation
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(topic, timeout=10)
    return len(metadata.topics[topic].partitions)


def test_unknown_and_invalid_settings_name_themselves(tmp_path):
    assert "no.such.setting" in refused(tmp_path, ["--set", "no.such.setting=1"])
    assert "num.partitions" in refused(tmp_path, ["--set", "num.partitions=many"])
    assert "SPATE_LOG_RETENTION_MS" in refused(tmp_path, [], env={"SPATE_LOG_RETENTION_MS": "soon"})
    config = tmp_path / "server.properties"
    config.write_text("# a comment\nlog.retention.hours=24\nzookeeper.connect=localhost:2181\n")
    assert "zookeeper.connect" in refused(tmp_path, ["--config", str(config)])
    assert "listeners" in refused(tmp_path, ["--listener", "nowhere"])


def test_file_then_environment_then_set_then_flags(tmp_path):
    config = tmp_path / "server.properties"
    wrong_port = free_port()
    config.write_text(f"num.partitions=2\nlisteners=PLAINTEXT://127.0.0.1:{wrong_port}\n")
    cases = [
        # (extra arguments, environment, expected partitions of an auto-created topic)
        ([], {}, 2),
        ([], {"SPATE_NUM_PARTITIONS": "3"}, 3),
        (["--set", "num.partitions=4"], {"SPATE_NUM_PARTITIONS": "3"}, 4),
    ]
    for index, (extra, env, expected) in enumerate(cases):
        # --listener (a flag) wins over the file's listeners.
        process, bootstrap = run_serve(tmp_path / f"case{index}", ["--config", str(config), *extra], env)
        try:
            assert auto_created_partitions(bootstrap, f"layered-{index}") == expected
        finally:
            stop(process)


def test_idle_connections_are_closed(tmp_path):
    process, bootstrap = run_serve(tmp_path, ["--set", "connections.max.idle.ms=300"])
    try:
        host, port = bootstrap.split(":")
        with socket.create_connection((host, int(port)), timeout=10) as idle:
            idle.settimeout(10)
            # The broker closes the silent connection: recv returns b"" (EOF) well before the 10 s timeout.
            assert idle.recv(1) == b""
        # Other clients are still served.
        assert AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10).brokers
    finally:
        stop(process)


def test_background_maintenance_applies_retention(tmp_path):
    """No alter triggers it: the broker's maintenance loop deletes the expired segments on its own."""
    process, bootstrap = run_serve(tmp_path, ["--set", "log.retention.check.interval.ms=100"])
    try:
        admin = AdminClient({"bootstrap.servers": bootstrap})
        topic = NewTopic("expiring", num_partitions=1, replication_factor=1,
                         config={"retention.ms": "1000", "segment.bytes": "2000"})
        admin.create_topics([topic])["expiring"].result(10)
        producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
        for i in range(200):
            producer.produce("expiring", value=b"x" * 100, timestamp=int(time.time() * 1000) - 60_000)
            producer.flush(10)  # one batch per record: many small segments
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused"})
        try:
            deadline = time.monotonic() + 20
            low, high = consumer.get_watermark_offsets(TopicPartition("expiring", 0), timeout=10)
            while low == 0 and time.monotonic() < deadline:
                time.sleep(0.1)  # polling a condition with a deadline, not synchronising on time
                low, high = consumer.get_watermark_offsets(TopicPartition("expiring", 0), timeout=10)
            assert high == 200
            assert low > 0, "the maintenance loop did not delete expired segments within 20 s"
        finally:
            consumer.close()
    finally:
        stop(process)
