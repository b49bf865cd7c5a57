"""Row types that cross from one stage of the job to the next."""

from __future__ import annotations

from pyflink.common import Types

# (key, message JSON): what every Kafka sink and Redis view of the job takes. The key is the
# camera id (dead letters: `partition:offset`), so one camera's records stay in order.
KEYED_JSON = Types.ROW_NAMED(["k", "v"], [Types.STRING(), Types.STRING()])

# What the pattern operator takes: a key slot, the step of a SQL batch (None: facts of one
# message, placed by their time), and a JSON list of facts (`udfs.patterns.facts.Fact`).
FACT_ROW = Types.ROW_NAMED(["slot", "step", "facts"], [Types.INT(), Types.LONG(), Types.STRING()])
