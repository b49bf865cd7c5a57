"""A `JobIO` without Kafka or Redis: records from a list in, every output to files.

`jobs.risk_job.build(..., io=FileIO(...))` then runs the whole graph on a local mini
cluster (tests/integration/test_job_graph.py). Only SQL and built-in operators are used at
the edges, so nothing of this module has to reach the Python workers.
"""

from __future__ import annotations

import base64
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyflink.common import Row, Types
from pyflink.datastream import DataStream, StreamExecutionEnvironment
from pyflink.table import DataTypes, Schema, StreamTableEnvironment

from jobs.config import from_args
from jobs.risk_job import build, create_env
from udfs.ingest import sql as ingest_sql
from udfs.views.flink import RedisView, View

RAW_ROW = Types.ROW_NAMED(
    ["payload", "kafka_partition", "kafka_offset"],
    [Types.PRIMITIVE_ARRAY(Types.BYTE()), Types.INT(), Types.LONG()],
)


@dataclass
class FileIO:
    """Detections from `records` (value bytes or None); outputs to `out/<table>/`."""

    env: StreamExecutionEnvironment
    records: list[bytes | None]
    out: Path
    watermark_bound_s: float = 5.0
    skew: ingest_sql.ClockSkew = field(default_factory=ingest_sql.ClockSkew)
    t_env: StreamTableEnvironment | None = field(default=None, init=False)

    def register_sources(self, t_env: StreamTableEnvironment) -> bool:
        self.t_env = t_env
        rows = [Row(value, 0, offset) for offset, value in enumerate(self.records)]
        stream = self.env.from_collection(rows, type_info=RAW_ROW)
        table = t_env.from_data_stream(
            stream,
            Schema.new_builder()
            .column("payload", DataTypes.BYTES())
            .column("kafka_partition", DataTypes.INT())
            .column("kafka_offset", DataTypes.BIGINT())
            .column_by_expression("ts", ingest_sql.event_time_sql(self.skew))
            .watermark("ts", ingest_sql.watermark_sql(self.watermark_bound_s))
            .build(),
        )
        t_env.create_temporary_view(ingest_sql.DETECTIONS_RAW, table)
        return False

    def register_sinks(self, t_env: StreamTableEnvironment, topics: dict[str, str]) -> None:
        for table in topics:
            self._file_table(t_env, table)

    def view(self, stream: DataStream, view: View, what: str) -> None:
        assert self.t_env is not None, "register_sources comes first"
        name = self._file_table(self.t_env, f"view_{view}")
        views = self.t_env.create_statement_set()
        views.add_insert(name, self.t_env.from_data_stream(stream))
        views.attach_as_datastream()

    def view_writer(self, view: View) -> RedisView | None:
        return None  # written in the Python operator: the Kafka sink's file has the records

    def _file_table(self, t_env: StreamTableEnvironment, name: str) -> str:
        t_env.execute_sql(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {name} (`k` STRING, `v` STRING) WITH ("
            f"'connector' = 'filesystem', 'path' = '{(self.out / name).as_uri()}', "
            "'format' = 'json')"
        )
        return name


def read_output(out: Path, table: str) -> list[tuple[str, dict[str, Any]]]:
    """Committed (key, message) records of one output table (in-progress files skipped)."""
    found = []
    folder = out / table
    for part in sorted(folder.rglob("*")) if folder.exists() else []:
        if part.is_file() and not part.name.startswith("."):
            for line in part.read_text().splitlines():
                row = json.loads(line)
                found.append((row["k"], json.loads(row["v"])))
    return found


def main(argv: list[str]) -> None:
    """`python -m tests.graph_io RECORDS OUT -- JOB OPTIONS`: RECORDS holds one base64
    value (or `-` for a null value) per line; runs the job's whole graph with FileIO."""
    records_file, out, _sep, *job_args = argv
    lines = Path(records_file).read_text().splitlines()
    records = [None if line == "-" else base64.b64decode(line) for line in lines]
    cfg = from_args(job_args)
    env, t_env = create_env(cfg)
    io = FileIO(env, records, Path(out), cfg.watermark_bound_s, cfg.clock_skew())
    build(env, t_env, cfg, io)
    env.execute(cfg.job_name)


if __name__ == "__main__":
    main(sys.argv[1:])
