"""Administration: the directory (demo and spreadsheet), channels registered from chat, doctor, readiness and
metrics, retention, data keys, the audit chain and protocol tools."""
