"""Run the benchmark suite: `python -m bench [--quick]` (or `make bench`).

Writes bench/results/latest.json and docs/benchmarks.md. Every comparison is
measured in the same run, variants interleaved, and reported as medians and
ratios; absolute numbers depend on the machine, ratios much less so.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

from bench import (
    end_to_end,
    gateway_path,
    native_accuracy,
    otlp_push,
    page,
    profiles,
    report,
    rpc_path,
    scaling,
    scrape,
    servers,
    signals,
    span_export,
    tls,
    workers,
)

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer rounds (about 4 minutes)")
    parser.add_argument(
        "--only",
        choices=[
            "gateway",
            "rpc",
            "rpc_client",
            "scrape",
            "end_to_end",
            "otlp",
            "servers",
            "scaling",
            "signals",
            "tls",
            "workers",
            "native",
            "profiles",
            "span_export",
        ],
        action="append",
    )
    parser.add_argument(
        "--render", action="store_true", help="only re-render docs/benchmarks.md from latest.json"
    )
    args = parser.parse_args()
    out = ROOT / "bench" / "results"
    if args.render:
        _write_report(json.loads((out / "latest.json").read_text()))
        return 0
    suites = {
        "gateway": gateway_path.run,
        "rpc": rpc_path.run,
        "rpc_client": rpc_path.run_client,
        "scrape": scrape.run,
        "end_to_end": end_to_end.run,
        "otlp": otlp_push.run,
        "servers": servers.run,
        "scaling": scaling.run,
        "signals": signals.run,
        "tls": tls.run,
        "workers": workers.run,
        "native": native_accuracy.run,
        "profiles": profiles.run,
        "span_export": span_export.run,
    }
    started = time.time()
    results: dict[str, Any] = {
        "machine": {"python": platform.python_version(), "cpus": _cpus(), "quick": args.quick}
    }
    wrk_suites = {"end_to_end", "servers", "scaling", "workers"}
    if shutil.which("wrk") is None and (not args.only or wrk_suites & set(args.only)):
        print("bench: wrk is not on PATH; the end-to-end suites need it: apt-get install wrk")
        return 2
    for name, run in suites.items():
        if args.only and name not in args.only:
            continue
        print(f"bench: {name} ...", flush=True)
        results[name] = run(args.quick)
        if isinstance(results[name], dict):  # how busy the machine was while it ran
            results[name]["load_average"] = [round(load, 2) for load in os.getloadavg()]
    results["seconds"] = round(time.time() - started, 1)
    if args.only:  # keep the other suites' figures of the last full run
        rerun = {"suites": args.only, "machine": results["machine"]}
        rerun["seconds"] = results["seconds"]
        previous = out / "latest.json"
        earlier = json.loads(previous.read_text()) if previous.exists() else {}
        if earlier.get("rerun"):  # suites re-run alone before this one stay named
            named = [*earlier["rerun"]["suites"], *args.only]
            rerun["suites"] = list(dict.fromkeys(named))  # each named once, in order
        # The page's header stays the full run's and says which suites were re-run since.
        results = {**earlier, **results, "rerun": rerun}
        if earlier:
            results["machine"], results["seconds"] = earlier["machine"], earlier["seconds"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2) + "\n")
    _write_report(results)
    return 0


def _write_report(results: dict[str, Any]) -> None:
    markdown = report.render(results)
    target = ROOT / "docs" / "benchmarks.md"
    rerun = results.get("rerun")
    if rerun is not None and target.exists():
        # latest.json may lack suites the page shows (it is not tracked): keep their sections.
        suites = ", ".join(f"`{suite}`" for suite in rerun["suites"])
        note = f"{suites} ({report.run_line(rerun['machine'], rerun['seconds'])})"
        markdown = page.merge(target.read_text(), markdown, note)
    target.write_text(markdown)
    print(markdown)


def _cpus() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    raise SystemExit(main())
