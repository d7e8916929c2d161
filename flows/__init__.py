"""Prefect flows: deadlines, reminders and escalation, post-evaluation scheduling, publication."""
