"""Routers of the dashboard: health, metrics, inventory and the feature endpoints."""
