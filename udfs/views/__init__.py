"""Views: live Redis views of window stats, verdicts, alerts and key-pool health."""
