"""The public REST API: an aiohttp app that turns each path into one call on AuthService."""
