"""`logstream bench page`: how fast the dashboard shows its numbers, measured in the browser.

It serves the real query app (which serves the page and the API) over the seeded dataset of
`logstream bench query` (same directory, reused or seeded), loads the page in Debian's headless
Chromium (Playwright) and reads, from the page's own performance timeline (Navigation Timing and
the marks app.js sets): when the tiles showed their numbers (`logstream:first-numbers`) and when
every panel was drawn (`logstream:complete`), both from navigation start; and, from Resource
Timing, the bytes transferred. Cold loads have an empty cache (a new browser context each);
warm loads reuse one context (assets from cache, revalidated or immutable).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.common import machine, say

DESCRIPTION = "dashboard load time in headless Chromium over a seeded dataset (first numbers, complete)"
FIRST_NUMBERS_TARGET_MS = 1000.0
COMPLETE_TARGET_MS = 2000.0
VIEW = "/?range=30d&tz=America/Edmonton"
TIMINGS = """() => {
  const nav = performance.getEntriesByType('navigation')[0];
  const mark = (name) => (performance.getEntriesByName(name)[0] || {}).startTime;
  const resources = performance.getEntriesByType('resource');
  return {first: mark('logstream:first-numbers'), complete: mark('logstream:complete'),
          domContentLoaded: nav.domContentLoadedEventEnd, load: nav.loadEventEnd,
          transferred: nav.transferSize + resources.reduce((sum, r) => sum + r.transferSize, 0),
          assets: resources.filter((r) => r.initiatorType !== 'fetch').reduce((sum, r) => sum + r.transferSize, 0)
                  + nav.transferSize,
          requests: resources.length + 1,
          // where the first numbers' time goes: when the first API call left, how long the summaries took
          apiStart: Math.min(...resources.filter((r) => r.initiatorType === 'fetch').map((r) => r.startTime)),
          summary: Math.max(...resources.filter((r) => r.name.includes('/v1/stats/summary')).map((r) => r.duration))};
}"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from logstream.seed import add_plan_arguments

    add_plan_arguments(parser)
    parser.add_argument("--loads", type=int, default=5, help="cold and warm page loads each (default 5)")
    parser.add_argument("--data-dir", type=Path, default=Path("data/bench"),
                        help="where datasets live, one chDB directory per size (default data/bench)")
    parser.add_argument("--output", type=Path, default=Path("bench-results"), help="where to save the JSON results")
    parser.add_argument("--quick", action="store_true", help="a small dataset (20,000 actions) and 2 loads")


def run(args: argparse.Namespace) -> int:
    if args.quick:
        args.actions, args.users, args.days, args.loads = 20_000, 500, 30, 2
    from playwright.sync_api import sync_playwright

    from bench.query import Server, prepared_dataset

    chromium = shutil.which("chromium")
    if chromium is None:
        say("Debian's chromium is needed: apt-get install chromium")
        return 1
    settings = prepared_dataset(args)
    if settings is None:
        return 1
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    before = machine()
    with Server(settings) as server, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        url = f"http://127.0.0.1:{server.port}{VIEW}"
        load(browser.new_context(), url)  # untimed: the engine's caches as warm as for any later load
        cold = [load(browser.new_context(), url) for _ in range(args.loads)]
        context = browser.new_context()
        load(context, url, keep=True)  # fills its cache
        warm = [load(context, url, keep=True) for _ in range(args.loads)]
        browser.close()
    results = {"machine": before, "actions": args.actions, "view": VIEW, "cold": cold, "warm": warm,
               "finished_load_average": machine()["load_average"]}
    args.output.mkdir(parents=True, exist_ok=True)
    path = args.output / f"page-{args.actions}-{started}.json"
    path.write_text(json.dumps(results, indent=2))
    report(results)
    say(f"saved {path}")
    return 0


def load(context: Any, url: str, keep: bool = False) -> dict[str, float]:
    page = context.new_page()
    page.goto(url)
    page.wait_for_selector("body[data-loaded]", state="attached", timeout=60_000)
    timings = page.evaluate(TIMINGS)
    status = page.locator("#status").inner_text()
    if status:
        raise RuntimeError(f"the page reported: {status}")
    page.close()
    if not keep:
        context.close()
    return timings


def report(results: dict[str, Any]) -> None:
    say(f"{results['actions']:,} actions, view {results['view']}; load average at the start "
        f"{results['machine']['load_average']}, at the end {results['finished_load_average']}")
    say("| loads | first numbers p50 (max) | complete p50 (max) | first API call sent p50 | summary answers p50 "
        "| transferred (all / page and assets) | requests |")
    say("|---|---:|---:|---:|---:|---:|---:|")
    for name in ("cold", "warm"):
        loads = results[name]
        first = [x["first"] for x in loads]
        complete = [x["complete"] for x in loads]
        say(f"| {name} ({len(loads)}) | {statistics.median(first):.0f} ms ({max(first):.0f}) | "
            f"{statistics.median(complete):.0f} ms ({max(complete):.0f}) | "
            f"{statistics.median(x['apiStart'] for x in loads):.0f} ms | "
            f"{statistics.median(x['summary'] for x in loads):.0f} ms | "
            f"{loads[0]['transferred'] / 1024:.0f} KiB / {loads[0]['assets'] / 1024:.0f} KiB | "
            f"{loads[0]['requests']} |")
    for name, target, key in (("first numbers", FIRST_NUMBERS_TARGET_MS, "first"),
                              ("complete", COMPLETE_TARGET_MS, "complete")):
        worst = statistics.median(x[key] for x in results["cold"])
        say(f"target {name} <= {target:.0f} ms (cold p50): {'met' if worst <= target else 'NOT met'} ({worst:.0f} ms)")
