"""Escalation: escalation prompts in managers' channels and the scheduler (the Sweeper) that drives timers."""
