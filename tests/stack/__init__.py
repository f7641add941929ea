"""Tests of the otel-stack command (services/stack)."""
