"""API keys given through `$TRAFFIC_LLM_API_KEYS` appear in no log, topic, checkpoint or Redis.

The environment is the risky way in: Beam logs every Python worker's environment when it
closes or expires one, and PyFlink's client logs the driver's. The job runs on a mini cluster
(its Python workers inherit this test's environment, as a TaskManager's do) with the shipped
flink-conf/ (config.yaml, log4j-cli.properties), calls the stub LLM with the keys and
finishes (its workers close, where Beam printed their environment). Then every place a secret
could land is read: the job's logs and output, every log file of the local stack, the job's
checkpoints, every record of its output topics and all of Redis.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml

from stack.paths import FLINK_CONF_SOURCE, REPO
from tests.integration import leaks
from tests.integration.job_harness import (
    OUTPUT_FLAGS,
    frames,
    job_args,
    llm_worthy,
    out_topic,
)
from tests.integration.llm_stub import get, running_stub
from tests.kafka_io import produce
from udfs.risk.keypool import key_id_for

pytestmark = pytest.mark.integration

TEST_KEYS = ["sk-envleak-SECRET-0a1b2c3d", "sk-envleak-SECRET-4e5f6a7b"]


# The job as `python jobs/risk_job.py` runs it, but with RocksDB state and checkpoint files
# in argv[1]: a mini cluster keeps both in memory unless the job's own configuration says.
DRIVER = """
import sys
from pyflink.common import Configuration
import jobs.risk_job as job

class WithCheckpointFiles(Configuration):
    def __init__(self) -> None:
        super().__init__()
        self.set_string("state.backend.type", "rocksdb")
        self.set_string("execution.checkpointing.dir", sys.argv[1])

job.Configuration = WithCheckpointFiles
job.main(sys.argv[2:])
"""


def shipped_conf(folder: Path) -> Path:
    """flink-conf/ as the mini cluster reads it: config.yaml (the python executable added)
    and the shipped log4j-cli.properties, unchanged."""
    conf = yaml.safe_load((FLINK_CONF_SOURCE / "config.yaml").read_text())
    conf["python"] = {**conf.get("python", {}), "executable": sys.executable}
    folder.mkdir()
    (folder / "config.yaml").write_text(yaml.safe_dump(conf))
    shutil.copy(FLINK_CONF_SOURCE / "log4j-cli.properties", folder)
    return folder


def test_keys_from_the_environment_reach_no_log_topic_checkpoint_or_redis(
    kafka_bootstrap, redis_url, fresh_topic, tmp_path
):
    run = uuid.uuid4().hex[:6]
    camera = f"c1-leak-{run}"
    topic = fresh_topic(1)
    produce(kafka_bootstrap, topic, [
        *(llm_worthy(camera, s) for s in (1, 2, 3)), *frames(camera, 4, 25),
    ])  # fmt: skip
    logs, checkpoints = tmp_path / "logs", tmp_path / "checkpoints"
    logs.mkdir()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRAFFIC_LLM_API_KEYS")},
        "TRAFFIC_LLM_API_KEYS": ",".join(TEST_KEYS),
        "FLINK_LOG_DIR": str(logs),
        "FLINK_CONF_DIR": str(shipped_conf(tmp_path / "conf")),
    }
    with running_stub("--latency-ms", "10") as llm:
        options = job_args(
            topic, run, bounded=True, parallelism=1, restart_attempts=0,
            kafka_bootstrap=kafka_bootstrap, redis_url=redis_url, llm_base_url=llm + "/v1",
            llm_model="stub-vl",
        )  # fmt: skip
        with leaks.kept(checkpoints, tmp_path / "checkpoint-files") as checkpoint_files:
            job = subprocess.run(
                [sys.executable, "-c", DRIVER, checkpoints.as_uri(), *options],
                cwd=REPO, env=env, capture_output=True, timeout=300, check=False,
            )  # fmt: skip
        output = job.stdout + job.stderr
        assert job.returncode == 0, output.decode(errors="replace")[-4000:]
        used = get(llm + "/stats")["by_key"]
    # The workers had the keys (in their environment) and used them.
    assert set(used) == {key_id_for(k) for k in TEST_KEYS}

    job_logs = leaks.files_under(logs)
    assert b"Python interpreter path" in b"".join(job_logs.values())  # worker logs were read
    assert list(checkpoint_files.rglob("_metadata"))  # a checkpoint completed
    places = {
        "job output": output,
        **job_logs,
        **leaks.stack_logs(),
        **leaks.files_under(checkpoint_files),
        **leaks.topics(kafka_bootstrap, [out_topic(run, t) for t in OUTPUT_FLAGS.values()]),
        **leaks.redis_contents(redis_url),
    }
    # The shipped log4j config dropped the workers' environment dumps (the stack's own logs
    # follow the config of whoever started it).
    assert not [name for name, data in job_logs.items() if b"beam:env:process:v1" in data]
    leaks.assert_absent(TEST_KEYS, places)
