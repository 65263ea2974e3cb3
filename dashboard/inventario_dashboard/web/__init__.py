"""HTTP surface: middleware, auth, rate limiting, errors (CONTRACT.md §6)."""
