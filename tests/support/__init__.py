"""What several test packages share: tools, servers, polling, clients, known traffic.

`tools.require_tool` is the one skip-or-fail rule for the real components a test
needs (Prometheus, Alertmanager, the collector, PostgreSQL, network namespaces,
kustomize, uv).
"""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
