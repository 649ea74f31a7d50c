"""The HTTP layer: the app factory, routes, problem+json errors, identity, request ids."""
