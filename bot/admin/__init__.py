"""Running Parley for a board: readiness and metrics for operators."""
