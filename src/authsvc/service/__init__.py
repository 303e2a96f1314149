"""Use cases of authsvc: plain async code over ports, raising AuthError."""
