"""Incidents on the simulator's ground truth (`benchmarks.incidents`, the pure engines): each
labelled situation the alerts found is one incident, with or without cooldowns."""

from __future__ import annotations

from benchmarks.incidents import LABEL_OF_KIND, run


def test_one_incident_per_labelled_situation_on_simulator_truth() -> None:
    result = run(cameras=4, duration_s=600, seed=3, bound_ms=5000)
    bare = run(cameras=4, duration_s=600, seed=3, bound_ms=5000, cooldowns=False)
    for outcome in (result, bare):
        assert set(outcome["per_kind"]) == set(LABEL_OF_KIND)
        for kind, figures in outcome["per_kind"].items():
            assert figures["labels"] > 0, kind
            assert figures["one_incident_per_situation"], (kind, figures)
            assert figures["recall"] >= figures["alert_recall"], (kind, figures)
            assert figures["incidents"] <= figures["alerts"], (kind, figures)
        assert outcome["ok"] is True
    # Without cooldowns the patterns alert more; the incidents stay the same.
    assert bare["alerts"] > result["alerts"]
    assert bare["incidents_per_kind"] == result["incidents_per_kind"]
    # A near miss, its high verdicts and conflict-then-verdict alerts: one incident.
    assert 0 < result["incidents_per_kind"]["conflict"] < result["conflict_alerts"]
