"""Health: protocol-level probes and the one wait engine."""
