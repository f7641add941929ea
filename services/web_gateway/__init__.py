"""The web-gateway: a Flask REST API for orders in front of the order-api's gRPC service."""
