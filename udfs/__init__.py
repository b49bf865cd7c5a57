"""The job's stages, one subpackage each, in pipeline order (jobs/risk_job.py wires them).

- `ingest`: Kafka source, event time and the contract check in SQL; dead letters.
- `windows`: per-camera tumbling windows in SQL; WindowStats with a congestion index.
- `risk`: smart filter, tiers, key pool and the vision-LLM assessment (async).
- `patterns`: traffic facts and the traffic pattern catalogue, matched per camera.
- `views`: live views in Redis. `sinks`: exactly-once Kafka outputs behind a size guard.
- `cep`: the pattern library the `patterns` stage uses (plain Python, stands alone).

In each stage, plain-Python modules hold the logic (unit-tested without a JVM) and
`flink.py` is the thin PyFlink adapter that holds state and wires the stage's operators.
"""
