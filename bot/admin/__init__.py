"""Administration: the demo directory, doctor, retention, data keys, the audit chain and protocol tools."""
