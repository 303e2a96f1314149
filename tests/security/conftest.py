"""The security suite attacks both faces: it reuses the facade's fixtures."""

from tests.facade.conftest import facade, http, start_facade

__all__ = ["facade", "http", "start_facade"]
