"""The order-api: a gRPC service that creates, gets and lists orders stored in SQLite."""
