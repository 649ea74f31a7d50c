"""Storage: the port the service talks to and its SQLite and PostgreSQL adapters."""
