"""Versioned form definitions per stage, validation with bilingual messages, rendering helpers."""
