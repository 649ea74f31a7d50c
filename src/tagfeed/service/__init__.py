"""The service layer: turns commands and queries into domain objects and store calls."""
