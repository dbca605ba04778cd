"""The conversation: one question at a time in every channel.

engine.py (answer parsing, Turn, Step, Flow), flows/ (one module a flow), registry.py (the table of flows by
name) and router.py (``Conversation``: the one inbound door the adapters call).
"""
