"""The local stack: a KRaft Kafka broker, Redis and a Flink session cluster on loopback.

Each service is started from files the project fetched (Maven jars, Debian's redis-server,
the apache-flink pip package), records the pids it started under `.stack/`, waits on a
real health check, and on stop ends only those pids.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path

import yaml

from contract import limits
from stack import paths
from stack.config import (
    DEFAULT_FLINK_REST_PORT,
    DEFAULT_KAFKA_CONTROLLER_PORT,
    DEFAULT_KAFKA_PORT,
    DEFAULT_REDIS_PORT,
)


class StackError(RuntimeError):
    """A service could not start; the message says what to do about it."""


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    found: list[int] = []
    todo = [pid]
    while todo:
        parent = todo.pop()
        for task in Path(f"/proc/{parent}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                children = [int(c) for c in task.read_text().split()]
                found.extend(children)
                todo.extend(children)
    return found


def wait_until(check: Callable[[], bool], timeout_s: float, what: str, log: Path | None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception:
            pass
        time.sleep(0.5)
    hint = f"; see {log}" if log else ""
    raise StackError(f"{what} not ready after {timeout_s:.0f} s{hint}")


class Service(ABC):
    """One process the stack owns: its pid file, its port, its health check."""

    name: str
    port: int

    def __init__(self) -> None:
        self.home = paths.STATE / self.name
        self.pid_file = self.home / "pid"
        self.log = self.home / f"{self.name}.log"

    def pids(self) -> list[int]:
        if not self.pid_file.exists():
            return []
        return [int(p) for p in self.pid_file.read_text().split() if p.strip()]

    def running(self) -> bool:
        return any(pid_alive(p) for p in self.pids())

    def start(self, timeout_s: float = 60) -> str:
        if self.running() and self.healthy():
            return f"{self.name}: already running (pid {' '.join(map(str, self.pids()))})"
        self.preflight()
        if port_open(self.port):
            raise StackError(
                f"{self.name}: port {self.port} on 127.0.0.1 is taken by a process this stack "
                "did not start; stop it or free the port"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self.launch()
            wait_until(self.healthy, timeout_s, self.name, self.log)
        except StackError:
            self.stop()
            raise
        return f"{self.name}: started in {time.monotonic() - started:.1f} s ({self.describe()})"

    def _spawn(self, cmd: list[str], env: dict[str, str] | None = None) -> None:
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.home,
                env=env,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))

    def stop(self, timeout_s: float = 30) -> str:
        pids = [p for p in self.pids() if pid_alive(p)]
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while any(pid_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in pids:
            if pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return f"{self.name}: stopped" if pids else f"{self.name}: was not running"

    def status(self) -> str:
        if not self.running():
            return f"{self.name}: stopped"
        state = "healthy" if self.healthy() else "UNHEALTHY"
        return f"{self.name}: {state} (pid {' '.join(map(str, self.pids()))}, {self.describe()})"

    def preflight(self) -> None:  # noqa: B027 - optional hook, most services need nothing
        """Raise StackError with a fix when a prerequisite is missing."""

    @abstractmethod
    def launch(self) -> None: ...

    @abstractmethod
    def healthy(self) -> bool: ...

    @abstractmethod
    def describe(self) -> str: ...


def require_java() -> str:
    java = shutil.which("java")
    if java is None:
        raise StackError(
            "java not found on PATH: install a JDK 17 (apt-get install openjdk-17-jdk)"
        )
    return java


class Kafka(Service):
    """Single-node KRaft broker+controller; data in .stack/kafka/data."""

    name = "kafka"
    port = DEFAULT_KAFKA_PORT
    controller_port = DEFAULT_KAFKA_CONTROLLER_PORT

    def preflight(self) -> None:
        require_java()
        if not list(paths.KAFKA_JARS.glob("kafka_2.13-*.jar")):
            raise StackError(f"Kafka jars missing in {paths.KAFKA_JARS}: run `./dev setup`")
        if port_open(self.controller_port):
            raise StackError(f"{self.name}: controller port {self.controller_port} is taken")

    def properties(self) -> str:
        data = self.home / "data"
        return "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={data}",
                "num.partitions=4",
                "auto.create.topics.enable=true",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "transaction.state.log.num.partitions=4",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                f"message.max.bytes={limits.BROKER_MAX_MESSAGE_BYTES}",
                "log.retention.hours=24",
                "",
            ]
        )

    def _java(self, main: str, *args: str) -> list[str]:
        log4j = self.home / "log4j2.properties"
        return [
            require_java(),
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={log4j}",
            f"-Dkafka.logs.dir={self.home}",
            "-cp",
            f"{paths.KAFKA_JARS}/*",
            main,
            *args,
        ]

    def launch(self) -> None:
        props = self.home / "server.properties"
        props.write_text(self.properties())
        (self.home / "log4j2.properties").write_text(
            "rootLogger.level=INFO\nrootLogger.appenderRef.f.ref=F\n"
            "appender.f.type=File\nappender.f.name=F\n"
            f"appender.f.fileName={self.home}/server.log\n"
            "appender.f.layout.type=PatternLayout\n"
            "appender.f.layout.pattern=[%d] %p %m (%c)%n\n"
        )
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id = uuid.uuid4().hex[:22]
            subprocess.run(
                self._java(
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(props),
                    "--ignore-formatted",
                ),
                check=True,
                capture_output=True,
                timeout=120,
            )
        self._spawn(self._java("kafka.Kafka", str(props)))

    def healthy(self) -> bool:
        from confluent_kafka.admin import AdminClient

        if not port_open(self.port):
            return False
        admin = AdminClient({"bootstrap.servers": f"127.0.0.1:{self.port}", "log_level": 0})
        metadata = admin.list_topics(timeout=2)
        return bool(metadata.brokers)

    def describe(self) -> str:
        return f"bootstrap 127.0.0.1:{self.port}, data {self.home / 'data'}"


class Redis(Service):
    """Debian's redis-server with its own port and folder; no persistence (a cache/view)."""

    name = "redis"
    port = DEFAULT_REDIS_PORT

    def preflight(self) -> None:
        if shutil.which("redis-server") is None:
            raise StackError("redis-server not found: apt-get install -y redis-server")

    def launch(self) -> None:
        conf = self.home / "redis.conf"
        conf.write_text(
            f'bind 127.0.0.1\nport {self.port}\ndir {self.home}\nsave ""\n'
            "appendonly no\nprotected-mode yes\ndaemonize no\nmaxmemory 512mb\n"
            "maxmemory-policy allkeys-lru\n"
        )
        self._spawn([shutil.which("redis-server") or "redis-server", str(conf)])

    def healthy(self) -> bool:
        import redis

        return bool(redis.Redis(port=self.port, socket_timeout=1).ping())

    def describe(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


class Flink(Service):
    """A standalone session cluster (1 JobManager, 1 TaskManager) from the pip package."""

    name = "flink"
    port = DEFAULT_FLINK_REST_PORT

    def preflight(self) -> None:
        require_java()
        paths.job_jars()

    def conf_dir(self) -> Path:
        return self.home / "conf"

    def write_conf(self) -> None:
        """flink-conf/ (config.yaml, log4j) plus what only this machine knows (absolute
        paths)."""
        conf = yaml.safe_load((paths.FLINK_CONF_SOURCE / "config.yaml").read_text())
        conf["python"]["executable"] = sys.executable
        conf["python"]["client"] = {"executable": sys.executable}
        checkpointing = conf["execution"]["checkpointing"]
        checkpointing["dir"] = f"file://{self.home / 'checkpoints'}"
        checkpointing["savepoint-dir"] = f"file://{self.home / 'savepoints'}"
        conf["pipeline"] = {"jars": [f"file://{jar}" for jar in paths.job_jars()]}
        conf_dir = self.conf_dir()
        conf_dir.mkdir(parents=True, exist_ok=True)
        # The product's log4j files keep process environments (API keys) out of the logs;
        # the rest of Flink's defaults come from the pip package.
        for name in paths.SHIPPED_LOG4J:
            shutil.copy(paths.FLINK_CONF_SOURCE / name, conf_dir / name)
        for name in ("log4j-session.properties", "logback.xml"):
            shutil.copy(paths.flink_home() / "conf" / name, conf_dir / name)
        (conf_dir / "masters").write_text(f"127.0.0.1:{self.port}\n")
        taskmanagers, slots = self.layout()
        if slots is not None:
            conf["taskmanager"]["numberOfTaskSlots"] = slots
        if taskmanagers > 1:  # one subtask per TaskManager where slots allow
            conf.setdefault("cluster", {})["evenly-spread-out-slots"] = True
        (conf_dir / "config.yaml").write_text(yaml.safe_dump(conf, sort_keys=False))
        (conf_dir / "workers").write_text("127.0.0.1\n" * taskmanagers)

    @staticmethod
    def layout(environ: Mapping[str, str] = os.environ) -> tuple[int, int | None]:
        """(TaskManagers, slots each) of the local cluster: $TRAFFIC_FLINK_TASKMANAGERS
        (default 1) and $TRAFFIC_FLINK_SLOTS (default: config.yaml's). Two TaskManagers with
        one slot each give every subtask its own interpreter in PyFlink's thread mode."""
        taskmanagers = int(environ.get("TRAFFIC_FLINK_TASKMANAGERS") or 1)
        slots = environ.get("TRAFFIC_FLINK_SLOTS")
        if taskmanagers < 1 or (slots is not None and int(slots) < 1):
            raise StackError("TRAFFIC_FLINK_TASKMANAGERS and TRAFFIC_FLINK_SLOTS must be >= 1")
        return taskmanagers, int(slots) if slots else None

    def lib_dir(self) -> Path:
        """The pip package's lib/ plus flink-python from opt/: Python jobs submitted with
        `flink run -py` need its operators on the cluster's classpath."""
        lib = self.home / "lib"
        if not lib.exists():
            lib.mkdir(parents=True)
            home = paths.flink_home()
            for jar in [*(home / "lib").glob("*.jar"), *(home / "opt").glob("flink-python*.jar")]:
                (lib / jar.name).symlink_to(jar)
        return lib

    def env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with the cluster's folders."""
        env = dict(os.environ if base is None else base)
        env.update(
            FLINK_HOME=str(paths.flink_home()),
            FLINK_LIB_DIR=str(self.lib_dir()),
            FLINK_CONF_DIR=str(self.conf_dir()),
            FLINK_LOG_DIR=str(self.home / "log"),
            FLINK_PID_DIR=str(self.home),
            PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        )
        return env

    def launch(self) -> None:
        self.write_conf()
        (self.home / "log").mkdir(exist_ok=True)
        bin_dir = paths.flink_home() / "bin"
        with self.log.open("ab") as log:
            done = subprocess.run(
                ["bash", str(bin_dir / "start-cluster.sh")],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
        self._record_pids()
        if done.returncode != 0:
            raise StackError(f"flink: start-cluster.sh failed; see {self.log}")

    def _record_pids(self) -> None:
        """The daemon scripts write one pid file per role into FLINK_PID_DIR; record them
        (even after a failed start, so that stop() cleans up what did start)."""
        pids = [
            pid
            for role in ("standalonesession", "taskexecutor")
            for pid_file in self.home.glob(f"flink-*-{role}.pid")
            for pid in pid_file.read_text().split()
            if pid_alive(int(pid))
        ]
        self.pid_file.write_text("\n".join(pids))

    def taskmanager_pids(self) -> list[int]:
        return [
            int(pid)
            for pid_file in self.home.glob("flink-*-taskexecutor.pid")
            for pid in pid_file.read_text().split()
            if pid_alive(int(pid))
        ]

    def kill_taskmanagers(self) -> list[int]:
        """SIGKILL every TaskManager this stack started, and its Python workers with it: a
        machine failure, for tests (workers left behind would live on, orphaned)."""
        killed = self.taskmanager_pids()
        workers = [child for pid in killed for child in descendants(pid)]
        for pid in [*killed, *workers]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        while any(pid_alive(pid) for pid in killed):
            time.sleep(0.1)
        return killed

    def start_taskmanager(self) -> None:
        """Add a TaskManager to the running cluster (after a kill, or to scale out)."""
        with self.log.open("ab") as log:
            subprocess.run(
                ["bash", str(paths.flink_home() / "bin" / "taskmanager.sh"), "start"],
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=60,
                check=True,
            )
        self._record_pids()

    def healthy(self) -> bool:
        if not port_open(self.port):
            return False
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/overview", timeout=2) as r:
            taskmanagers: int = json.load(r).get("taskmanagers", 0)
        return taskmanagers >= 1

    def start(self, timeout_s: float = 60) -> str:
        """As every service; and when this stack's JobManager is up without a TaskManager (one
        was seen to die of a native crash while a job was cancelled), start a TaskManager."""
        if self.running() and port_open(self.port) and not self.healthy():
            self.start_taskmanager()
            wait_until(self.healthy, timeout_s, self.name, self.log)
            return f"{self.name}: TaskManager restarted (pid {' '.join(map(str, self.pids()))})"
        return super().start(timeout_s)

    def ensure_taskmanager(self, timeout_s: float = 90) -> None:
        """Before a job: a live TaskManager, and the JobManager counting only live ones.

        A TaskManager that died (one was seen to crash natively while a job was cancelled)
        stays registered until its heartbeat times out; a job submitted meanwhile is
        scheduled on its slots and fails. So start one if none lives, then wait until the
        JobManager's count equals the live processes."""
        if not self.taskmanager_pids():
            self.start_taskmanager()

        def registered_are_alive() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/overview", timeout=2) as r:
                registered: int = json.load(r).get("taskmanagers", 0)
            return registered == len(self.taskmanager_pids()) >= 1

        wait_until(registered_are_alive, timeout_s, self.name, self.log)

    def stop(self, timeout_s: float = 30) -> str:
        result = super().stop(timeout_s)
        for pid_file in self.home.glob("flink-*.pid"):
            pid_file.unlink()
        return result

    def describe(self) -> str:
        return f"web UI http://127.0.0.1:{self.port}, conf {self.conf_dir()}"


SERVICES: dict[str, type[Service]] = {"kafka": Kafka, "redis": Redis, "flink": Flink}
