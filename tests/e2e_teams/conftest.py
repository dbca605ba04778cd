"""Every end-to-end test here runs under the channel-leak scan (tests/leakscan.py)."""

from tests.leakscan import channel_leak_scan  # noqa: F401 - autouse fixture
