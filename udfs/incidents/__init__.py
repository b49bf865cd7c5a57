"""Incidents: the alerts of one camera, place and situation grouped into one `Incident` with a
lifecycle (opened, updated, closed after a quiet period in event time). Plain Python in
`config.py` and `engine.py`; `flink.py` is the thin keyed PyFlink operator."""
