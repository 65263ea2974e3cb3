"""Health: protocol-level probes and the one wait engine (DESIGN.md pattern 5)."""
