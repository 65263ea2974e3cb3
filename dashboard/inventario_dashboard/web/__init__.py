"""HTTP surface: middleware, auth, rate limiting, errors (docs/contract.md §6)."""
