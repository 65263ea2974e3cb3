"""The suites stagectl runs: static validation checks (`checks.static`), smoke tests, chaos scenarios."""
