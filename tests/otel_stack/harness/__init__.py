"""Tests of otel_stack/harness/."""
