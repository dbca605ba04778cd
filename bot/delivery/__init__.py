"""Delivery: the outbox, the Deliverer and its transports, channel outages, and inbound identity and dedup."""
