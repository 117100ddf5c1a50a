"""Presence: who is online, derived from per-device sessions; rules, change sequence, statements, writes and reads."""
