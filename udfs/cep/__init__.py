"""Complex event processing for PyFlink: a FlinkCEP-like pattern library in plain Python.

`pattern` declares patterns, `nfa` matches them, `buffer` orders events by event time,
`facts`/`traffic`/`engine` turn contract messages into traffic alerts, and
`flink_operator` is the thin PyFlink adapter. See docs/cep.md.
"""
