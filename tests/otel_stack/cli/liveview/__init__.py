"""Tests of otel_stack/cli/liveview/."""
