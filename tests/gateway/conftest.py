"""The gateway tests' fixtures (defined in tests/gateway/helpers.py)."""

from tests.gateway.helpers import start_gateway

__all__ = ["start_gateway"]
