"""Tests of the otel_stack package: the otel-stack command, its harness, its renders."""
