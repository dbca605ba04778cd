"""Shared, channel-neutral pieces: the message model, translations, clock, logs and case views."""
