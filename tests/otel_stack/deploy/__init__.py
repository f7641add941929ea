"""Tests of otel_stack/deploy/."""
