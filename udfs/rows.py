"""Row types that cross from one stage of the job to the next, and how a side output does."""

from __future__ import annotations

from pyflink.common import Types
from pyflink.datastream import DataStream, OutputTag

# (key, message JSON): what every Kafka sink and Redis view of the job takes. The key is the
# camera id (dead letters: `partition:offset`), so one camera's records stay in order.
KEYED_JSON = Types.ROW_NAMED(["k", "v"], [Types.STRING(), Types.STRING()])

# What the pattern operator takes: a key slot, the step of a SQL batch (None: facts of one
# message, placed by their time), and a JSON list of facts (`udfs.patterns.facts.Fact`).
FACT_ROW = Types.ROW_NAMED(["slot", "step", "facts"], [Types.INT(), Types.LONG(), Types.STRING()])


def side_output(stream: DataStream, tag: OutputTag) -> DataStream:
    """The records a Python operator yields with `tag`, typed by the tag, with no hop.

    PyFlink's `get_side_output` appends an identity Python map, so every side record crossed
    into a Python worker and back once more (1,300 verdicts/s at 2,200 cameras). The stream
    itself is enough: at graph generation Flink hands the tag to the Python operator that
    yields it, as long as something the job runs consumes the stream (a sink or another
    operator; not `execute_and_collect`). tests/integration/test_job_graph.py reads them.
    As with `get_side_output`: an operator with some consumed tag drops records of a tag
    nobody consumes, but one with none takes a yielded (tag, record) for a main record and
    fails, so yield a tag only when its stream is used (hence no CEP timeout stream).
    """
    return DataStream(stream._j_data_stream.getSideOutput(tag.get_java_output_tag()))
