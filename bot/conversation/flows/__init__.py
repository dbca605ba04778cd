"""The conversation's flows, one module each (each defines ``FLOW``); registry.py lists them by name.

Adding a flow is one new module here plus one entry in bot/conversation/registry.py.
"""
