"""Notifications: who is told what when a case changes (the notification table) and tell()."""
