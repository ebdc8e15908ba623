"""`spate serve` configuration: Kafka property names from a file, SPATE_* variables, --set and flags, in that order
of precedence; an unknown or invalid setting stops start-up with a message that names it."""
import os
import signal
import subprocess
import threading

from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

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
