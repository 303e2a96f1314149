"""The gRPC edge: decode request, call a use case, encode the reply; errors mapped once."""
