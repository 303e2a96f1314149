"""Plain values and rules of authsvc: no I/O, no gRPC, no database."""
