"""Clients of the four real dependencies; every real call goes through that service's breaker."""
