"""Cases: the case service (open, act, refuse), the projection, timers and the permission matrix."""
