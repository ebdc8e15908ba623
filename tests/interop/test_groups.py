"""Consumer groups with real clients: membership, rebalances, failover, committed offsets, admin views.

Group members run as their own processes (group_member.py) so that a test can kill one with SIGKILL. Every wait is
on a condition with a timeout, never a fixed sleep.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from helpers import TIMEOUT, Record, confluent_produce, create_topic

MEMBER = Path(__file__).with_name("group_member.py")
SESSION_MS = 6000


def wait_until(condition, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Member:
    """A group member process and the events it printed."""

    def __init__(self, bootstrap, topic, group, *args):
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, str(MEMBER), bootstrap, topic, group, *args],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            stderr=open(os.environ["TEST_MEMBER_STDERR"] + f".{id(self)}", "w") if os.environ.get("TEST_MEMBER_STDERR")
            else subprocess.DEVNULL)
        self.events = []
        self.lock = threading.Lock()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.process.stdout:
            with self.lock:
                self.events.append(json.loads(line))

    def snapshot(self):
        with self.lock:
            return list(self.events)

    @property
    def owned(self):
        """The partitions it owns after its last assignment change."""
        changes = [e for e in self.snapshot() if e["event"] in ("assigned", "revoked")]
        return set(changes[-1]["all"]) if changes else set()

    @property
    def records(self):
        return [e for e in self.snapshot() if e["event"] == "record"]

    def values(self):
        return {e["value"] for e in self.records}

    def close(self, timeout=30):
        """A clean close: the member leaves the group (unless static) and exits."""
        if self.process.poll() is None:
            self.process.stdin.close()
            self.process.wait(timeout)
        self.reader.join(5)

    def kill(self):
        self.process.kill()
        self.process.wait(10)
        self.reader.join(5)

    def __del__(self):
        if self.process.poll() is None:
            self.process.kill()


@pytest.fixture
def group_broker(tmp_path_factory, request):
    """A broker of the test's own with no initial rebalance delay (so groups form without a fixed 3 s wait), and
    KIP-848 sessions as short as the classic members' here."""
    from conftest import start_broker
    b = start_broker(tmp_path_factory, "spate-g-" + request.node.name[:30].replace("[", "-").replace("]", ""),
                     settings=["group.initial.rebalance.delay.ms=0", f"group.consumer.session.timeout.ms={SESSION_MS}",
                               "group.consumer.heartbeat.interval.ms=500"])
    yield b
    if b.is_running():
        b.stop()


def produce_values(bootstrap, topic, values, partitions):
    records = [Record(str(v).encode(), str(v).encode(), []) for v in values]
    for p in range(partitions):
        confluent_produce(bootstrap, topic, [r for i, r in enumerate(records) if i % partitions == p], partition=p)


def balanced(members, partitions):
    owned = [m.owned for m in members]
    every = set().union(*owned)
    return every == set(range(partitions)) and sum(len(o) for o in owned) == partitions \
        and max(len(o) for o in owned) - min(len(o) for o in owned) <= 1


MEMBER_KINDS = {
    "confluent-classic": ("--client", "confluent"),
    "kafka-python-classic": ("--client", "kafka-python"),
    "confluent-consumer-protocol": ("--client", "confluent", "--protocol", "consumer"),
}


@pytest.mark.parametrize("kind", list(MEMBER_KINDS))
def test_three_members_split_six_partitions_and_fail_over_after_kill(group_broker, topic, kind):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 6)
    produce_values(bootstrap, topic, range(600), 6)
    members = [Member(bootstrap, topic, "g-" + topic, *MEMBER_KINDS[kind], "--session-ms", str(SESSION_MS))
               for _ in range(3)]
    try:
        wait_until(lambda: balanced(members, 6) and all(len(m.owned) == 2 for m in members), 60,
                   "three members with two partitions each")
        wait_until(lambda: len(set().union(*(m.values() for m in members))) == 600, 60, "the first 600 records")
        victim, survivors = members[0], members[1:]
        victim.kill()
        killed_at = time.monotonic()
        wait_until(lambda: balanced(survivors, 6), SESSION_MS / 1000 + 30, "the survivors to take over every partition")
        # Kafka's bound: the session timeout to notice, then one rebalance.
        assert time.monotonic() - killed_at < SESSION_MS / 1000 + 15
        produce_values(bootstrap, topic, range(600, 1200), 6)
        wait_until(lambda: len(set().union(*(m.values() for m in members))) == 1200, 60, "every record consumed")
        assert set().union(*(m.values() for m in members)) == {str(v) for v in range(1200)}
    finally:
        for m in members:
            m.kill()


@pytest.mark.parametrize("client,restart", [("confluent", "graceful"), ("confluent", "kill-9"),
                                            ("kafka-python", "kill-9")])
def test_manual_commits_resume_exactly_after_restart_of_consumers_and_broker(group_broker, topic, client, restart):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 3)
    produce_values(bootstrap, topic, range(900), 3)
    group = "g-" + topic
    first = [Member(bootstrap, topic, group, "--client", client, "--max", "150") for _ in range(2)]
    for m in first:
        wait_until(lambda: any(e["event"] == "closed" for e in m.snapshot()), 60, "the first run to process 150 each")
        m.close()
    processed_first = [r for m in first for r in m.records]
    committed = {}
    for m in first:
        for e in m.snapshot():
            if e["event"] == "committed":
                committed[e["partition"]] = max(committed.get(e["partition"], 0), e["offset"])
    if restart == "graceful":
        group_broker.restart()
    else:
        group_broker.kill()
        group_broker.start()
    second = [Member(bootstrap, topic, group, "--client", client) for _ in range(2)]
    try:
        remaining = 900 - len(processed_first)
        wait_until(lambda: sum(len(m.records) for m in second) >= remaining, 60, "the rest of the records")
        processed_second = [r for m in second for r in m.records]
        # Nothing skipped, nothing processed twice: the second run starts exactly at the committed offsets.
        assert sorted(r["value"] for r in processed_first + processed_second) == sorted(str(v) for v in range(900))
        for partition in range(3):
            offsets = sorted(r["offset"] for r in processed_second if r["partition"] == partition)
            if offsets:
                assert offsets[0] == committed.get(partition, 0)
    finally:
        for m in second:
            m.kill()


def test_cooperative_sticky_keeps_unaffected_partitions(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 6)
    group = "g-" + topic
    args = ("--strategy", "cooperative-sticky")
    a = Member(bootstrap, topic, group, *args)
    b = Member(bootstrap, topic, group, *args)
    try:
        wait_until(lambda: balanced([a, b], 6), 60, "two members with three partitions each")
        before = {"a": a.owned, "b": b.owned}
        revoked_before = {"a": len([e for e in a.snapshot() if e["event"] == "revoked"]),
                          "b": len([e for e in b.snapshot() if e["event"] == "revoked"])}
        c = Member(bootstrap, topic, group, *args)
        try:
            wait_until(lambda: balanced([a, b, c], 6) and len(c.owned) == 2, 60, "a third member with two partitions")
            for name, m in (("a", a), ("b", b)):
                # Each old member gave up exactly one partition and kept the other two throughout.
                assert m.owned < before[name] and len(m.owned) == 2
                revokes = [e for e in m.snapshot() if e["event"] == "revoked"][revoked_before[name]:]
                revoked = set().union(*(set(e["partitions"]) for e in revokes)) if revokes else set()
                assert revoked == before[name] - m.owned, f"{name} revoked {revoked}, kept {m.owned}"
        finally:
            c.kill()
    finally:
        a.kill()
        b.kill()


def test_static_member_restart_within_session_causes_no_rebalance(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 4)
    group = "g-" + topic
    a = Member(bootstrap, topic, group, "--instance", "a", "--session-ms", "30000")
    b = Member(bootstrap, topic, group, "--instance", "b", "--session-ms", "30000")
    try:
        wait_until(lambda: balanced([a, b], 4), 60, "two static members")
        owned_a = a.owned
        events_b = len(b.snapshot())
        a.close()  # a static member does not leave the group when it closes
        a = Member(bootstrap, topic, group, "--instance", "a", "--session-ms", "30000")
        wait_until(lambda: a.owned == owned_a, 30, "the restarted instance to get its partitions back")
        produce_values(bootstrap, topic, range(40), 4)
        wait_until(lambda: len(a.values() | b.values()) == 40, 30, "records after the restart")
        changes = [e for e in b.snapshot()[events_b:] if e["event"] in ("assigned", "revoked")]
        assert changes == [], f"the other member saw a rebalance: {changes}"
    finally:
        a.kill()
        b.kill()


def test_committed_offsets_and_group_state_survive_kill_9(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 2)
    produce_values(bootstrap, topic, range(100), 2)
    group = "g-" + topic
    member = Member(bootstrap, topic, group, "--instance", "keeper", "--session-ms", "60000", "--max", "30")
    wait_until(lambda: any(e["event"] == "closed" for e in member.snapshot()), 60, "30 records processed")
    member.close()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    before = committed_offsets(admin, group, topic, 2)
    assert sum(v for v in before.values() if v >= 0) == 30
    group_broker.kill()
    group_broker.start()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    assert committed_offsets(admin, group, topic, 2) == before
    # The static member is still in the group (its session has not expired): the stored group came back.
    description = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
    assert [m.group_instance_id for m in description.members] == ["keeper"]
    assert str(description.state).endswith("STABLE")


def committed_offsets(admin, group, topic, partitions):
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(topic, p) for p in range(partitions)])
    result = admin.list_consumer_group_offsets([request])[group].result(TIMEOUT)
    return {tp.partition: tp.offset for tp in result.topic_partitions}


def test_admin_views_members_assignments_offsets_and_lag(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 2)
    produce_values(bootstrap, topic, range(50), 2)
    group = "g-" + topic
    member = Member(bootstrap, topic, group, "--max", "20", "--session-ms", "30000")
    try:
        wait_until(lambda: len(member.records) >= 20, 60, "20 records processed")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        listed = admin.list_consumer_groups().result(TIMEOUT)
        assert group in {g.group_id for g in listed.valid}
        committed = {p: max(o, 0) for p, o in committed_offsets(admin, group, topic, 2).items()}
        assert sum(committed.values()) == 20
        # Lag as kafka-consumer-groups.sh computes it: log end offset minus committed offset.
        ends = {p: 25 for p in range(2)}
        assert sum(ends[p] - committed[p] for p in range(2)) == 30
        wait_until(lambda: any(e["event"] == "closed" for e in member.snapshot()), 30, "the member to close")
    finally:
        member.kill()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    description = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
    assert str(description.state).endswith("EMPTY")
    result = admin.delete_consumer_groups([group])[group].result(TIMEOUT)
    assert result is None
    listed = admin.list_consumer_groups().result(TIMEOUT)
    assert group not in {g.group_id for g in listed.valid}


def test_describe_shows_members_and_assignments(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 4)
    group = "g-" + topic
    members = [Member(bootstrap, topic, group, "--session-ms", "30000") for _ in range(2)]
    try:
        wait_until(lambda: balanced(members, 4), 60, "two members")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        description = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
        assert str(description.state).endswith("STABLE")
        assert len(description.members) == 2
        assigned = sorted(tp.partition for m in description.members for tp in m.assignment.topic_partitions)
        assert assigned == [0, 1, 2, 3]
        assert all(m.host.startswith("/127.0.0.1") for m in description.members)
    finally:
        for m in members:
            m.kill()


def test_kafka_python_admin_lists_describes_alters_and_deletes_groups(group_broker, topic):
    from kafka import KafkaAdminClient
    from kafka import TopicPartition as KTopicPartition
    from kafka.structs import OffsetAndMetadata
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 1)
    produce_values(bootstrap, topic, range(10), 1)
    group = "g-" + topic
    member = Member(bootstrap, topic, group, "--client", "kafka-python", "--max", "10")
    wait_until(lambda: any(e["event"] == "closed" for e in member.snapshot()), 60, "10 records processed")
    member.close()
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    partition = KTopicPartition(topic, 0)
    try:
        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[group]["protocol_type"] == "consumer" and listed[group]["group_state"] == "Empty"
        assert listed[group]["group_type"] == "classic"
        assert admin.list_group_offsets({group: None})[group][partition].offset == 10
        # ListGroups filters (v4 states, v5 types) and the multi-group OffsetFetch (v8+).
        assert group in {g["group_id"] for g in admin.list_groups(states_filter=["empty"])}
        assert group not in {g["group_id"] for g in admin.list_groups(states_filter=["Stable"])}
        assert group not in {g["group_id"] for g in admin.list_groups(types_filter=["consumer"])}
        both = admin.list_group_offsets({group: None, "no-such-group": None})
        assert both[group][partition].offset == 10 and both["no-such-group"] == {}
        assert admin.describe_groups([group])[group]["group_state"] == "Empty"
        # Reset to 4 while the group is empty, as kafka-consumer-groups.sh --reset-offsets does.
        assert admin.alter_group_offsets(group, {partition: OffsetAndMetadata(4, "", -1)})[partition].errno == 0
        assert admin.list_group_offsets({group: None})[group][partition].offset == 4
        assert admin.delete_group_offsets(group, [partition])[partition].errno == 0
        assert admin.list_group_offsets({group: None})[group] == {}
        assert admin.alter_group_offsets(group, {partition: OffsetAndMetadata(7, "", -1)})[partition].errno == 0
        assert admin.delete_groups([group]) == {group: "OK"}
        assert admin.delete_groups([group]) == {group: "GroupIdNotFoundError"}
        assert group not in {g["group_id"] for g in admin.list_groups()}
    finally:
        admin.close()


def test_consumer_protocol_group_is_described_listed_and_resumes_after_broker_kill_9(group_broker, topic):
    bootstrap = group_broker.bootstrap
    create_topic(bootstrap, topic, 4)
    produce_values(bootstrap, topic, range(200), 4)
    group = "g-" + topic
    members = [Member(bootstrap, topic, group, "--protocol", "consumer", "--max", "60") for _ in range(2)]
    try:
        wait_until(lambda: all(len(m.records) >= 60 for m in members), 60, "both members to process 60 records")
        admin = AdminClient({"bootstrap.servers": bootstrap})
        listed = {g.group_id: g for g in admin.list_consumer_groups().result(TIMEOUT).valid}
        assert group in listed
        for m in members:
            wait_until(lambda: any(e["event"] == "closed" for e in m.snapshot()), 30, "the member to leave")
    finally:
        for m in members:
            m.kill()
    processed = [r for m in members for r in m.records]
    group_broker.kill()
    group_broker.start()
    admin = AdminClient({"bootstrap.servers": bootstrap})
    committed = committed_offsets(admin, group, topic, 4)
    assert sum(max(o, 0) for o in committed.values()) == len(processed) == 120
    rest = Member(bootstrap, topic, group, "--protocol", "consumer")
    try:
        wait_until(lambda: len(rest.records) >= 80, 60, "the other 80 records")
        assert sorted(r["value"] for r in processed + rest.records) == sorted(str(v) for v in range(200))
        description = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
        assert len(description.members) == 1
        assert sorted(tp.partition for tp in description.members[0].assignment.topic_partitions) == [0, 1, 2, 3]
    finally:
        rest.kill()


def test_consumer_protocol_regex_subscription_picks_up_new_topics(group_broker, topic_name):
    bootstrap = group_broker.bootstrap
    prefix = topic_name("re")
    create_topic(bootstrap, prefix + "-a", 2)
    produce_values(bootstrap, prefix + "-a", range(10), 2)
    member = Member(bootstrap, "^" + prefix.replace(".", "[.]") + "-.*", "g-" + prefix, "--protocol", "consumer")
    try:
        wait_until(lambda: len(member.values()) == 10, 60, "the records of the first matching topic")
        # A topic created later that matches the expression joins the subscription (KIP-848: resolved by the broker).
        create_topic(bootstrap, prefix + "-b", 1)
        produce_values(bootstrap, prefix + "-b", range(10, 15), 1)
        wait_until(lambda: len(member.values()) == 15, 60, "the records of the topic created later")
    finally:
        member.kill()
