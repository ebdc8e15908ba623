"""Fixtures for the interoperability suite: real `spate serve` processes driven by real Kafka clients.

The broker binary is the debug build (`swift build --build-tests` in scripts/test builds it). Each broker runs on a
free loopback port with its own temporary data directory; its stderr goes to a file that is attached to the report
of any test that fails while the broker is in use.
"""

import itertools
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("SPATE_BINARY", REPO / ".build" / "debug" / "spate"))
STARTED_LINE = "Spate broker started"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0

# Every broker process started in this session, so a failing test's report can show their logs.
_BROKERS = []


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SpateBroker:
    """One broker: a data directory and a port that survive restarts, and at most one running process."""

    def __init__(self, data_dir, settings=(), name="broker"):
        if not BINARY.exists():
            pytest.fail(
                f"the Spate binary {BINARY} does not exist: build it first with `swift build --product spate` "
                "(scripts/test runs `swift build --build-tests`), or point SPATE_BINARY at one", pytrace=False)
        self.data_dir = Path(data_dir)
        self.settings = list(settings)
        self.name = name
        self.port = free_port()
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.stderr.log"
        self.process = None
        self._log = None
        self._reader = None
        _BROKERS.append(self)

    @property
    def bootstrap(self):
        return f"127.0.0.1:{self.port}"

    @property
    def host_port(self):
        return ("127.0.0.1", self.port)

    def start(self, timeout=START_TIMEOUT):
        """Starts the process and returns once it has logged that it accepts connections."""
        assert self.process is None or self.process.poll() is not None, "already running"
        command = [str(BINARY), "serve", "--data-dir", str(self.data_dir), "--listener", self.bootstrap]
        for setting in self.settings:
            command += ["--set", setting]
        if os.environ.get("TEST_BROKER_LOG_LEVEL"):
            # For debugging a test: e.g. TEST_BROKER_LOG_LEVEL=debug logs every group request's answer.
            command += ["--log-level", os.environ["TEST_BROKER_LOG_LEVEL"]]
        self._log = open(self.log_path, "a", buffering=1)
        self._log.write(f"=== {' '.join(command)}\n")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True, errors="replace")
        started = threading.Event()
        process, log = self.process, self._log

        def pump():
            # Copies stderr to the log file for as long as the process lives and spots the start-up line.
            for line in process.stderr:
                log.write(line)
                if STARTED_LINE in line:
                    started.set()
            log.flush()

        self._reader = threading.Thread(target=pump, name=f"{self.name}-stderr", daemon=True)
        self._reader.start()
        deadline = time.monotonic() + timeout
        while not started.wait(0.05):
            if process.poll() is not None:
                self._reader.join(5)
                pytest.fail(f"{self.name} exited with {process.returncode} before it started:\n{self.log_text()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"{self.name} did not log {STARTED_LINE!r} within {timeout}s:\n{self.log_text()}",
                            pytrace=False)

    def _reap(self, timeout):
        try:
            code = self.process.wait(timeout)
        finally:
            if self._reader is not None:
                self._reader.join(5)
            if self._log is not None:
                self._log.close()
        return code

    def stop(self, timeout=STOP_TIMEOUT):
        """Graceful shutdown: SIGTERM, and the process must exit 0 within the timeout."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self._reap(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"{self.name} did not exit within {timeout}s of SIGTERM", pytrace=False)
        assert code == 0, f"{self.name} exited with {code} after SIGTERM:\n{self.log_tail()}"

    def kill(self):
        """SIGKILL: no shutdown at all, as a crash."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.kill()
        self._reap(STOP_TIMEOUT)

    def restart(self):
        """Graceful stop, then a new process on the same data directory and port."""
        self.stop()
        self.start()

    def is_running(self):
        return self.process is not None and self.process.poll() is None

    def log_text(self, since=0):
        try:
            with open(self.log_path, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, since=0, lines=200):
        return "\n".join(self.log_text(since).splitlines()[-lines:])

    def log_size(self):
        try:
            return self.log_path.stat().st_size
        except FileNotFoundError:
            return 0


def start_broker(tmp_path_factory, name, settings=()):
    broker = SpateBroker(tmp_path_factory.mktemp(name) / "data", settings=settings, name=name)
    broker.start()
    return broker


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    """The shared broker, with default settings, for the whole session."""
    b = start_broker(tmp_path_factory, "spate")
    yield b
    b.stop()


@pytest.fixture(scope="session")
def bootstrap(broker):
    return broker.bootstrap


@pytest.fixture(scope="session")
def limits_broker(tmp_path_factory):
    """A broker with small limits: 10 KiB batches, 64 KiB requests, three partitions for auto-created topics."""
    b = start_broker(tmp_path_factory, "spate-limits", settings=[
        f"message.max.bytes={LIMIT_MESSAGE_MAX_BYTES}",
        f"socket.request.max.bytes={LIMIT_SOCKET_REQUEST_MAX_BYTES}",
        "num.partitions=3",
    ])
    yield b
    b.stop()


LIMIT_MESSAGE_MAX_BYTES = 10 * 1024
LIMIT_SOCKET_REQUEST_MAX_BYTES = 64 * 1024


@pytest.fixture
def own_broker(tmp_path_factory, request):
    """A broker of the test's own, for restarts and crashes; stopped (or killed if it will not stop) at the end."""
    b = start_broker(tmp_path_factory, "spate-" + request.node.name[:40].replace("[", "-").replace("]", ""))
    yield b
    if b.is_running():
        b.stop()


_counter = itertools.count()


@pytest.fixture
def topic_name(request):
    """A fresh topic name, unique in the session; call it for more than one."""
    base = "".join(c if c.isalnum() or c in "-_." else "-" for c in request.node.name)[:80]
    session = uuid.uuid4().hex[:6]

    def make(suffix=""):
        return f"it-{base}{'-' + suffix if suffix else ''}-{session}-{next(_counter)}"

    return make


@pytest.fixture
def topic(topic_name):
    return topic_name()


# --- broker logs in failure reports -------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def _broker_log_marks(request):
    request.node._spate_log_marks = {id(b): b.log_size() for b in _BROKERS}
    yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    marks = getattr(item, "_spate_log_marks", {})
    for b in _BROKERS:
        since = marks.get(id(b), 0)
        if b.log_size() > since:
            report.sections.append((f"{b.name} stderr ({b.log_path})", b.log_tail(since)))
