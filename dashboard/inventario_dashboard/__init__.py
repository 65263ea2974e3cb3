"""inventario-retail Dashboard API: the system under test of the staging stack."""

__version__ = "1.0.0"
