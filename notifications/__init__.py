"""The outbox's delivery side: message catalogue, templates, channels (email, in-app inbox)."""
