"""Live web dashboard over Redis: alerts, risk verdicts, window statistics, key pool, lag."""
