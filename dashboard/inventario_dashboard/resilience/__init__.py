"""Resilience core: circuit breakers, health score and degradation levels, feature gating.

Import from the submodules (`breaker`, `levels`, `features`, `manager`); this package module
stays empty so that `settings` can import `levels` without import cycles.
"""
