"""The gateway fixtures, for the tests that run a gateway beside its witnesses."""

from tests.gateway.conftest import demo_sources, gateway, gateway_settings, store_kind

__all__ = ["demo_sources", "gateway", "gateway_settings", "store_kind"]
