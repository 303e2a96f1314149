"""bench/results/latest.json and the short table printed at the end of a run."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.model import Check, Figure

HEADER = (
    f"{'#':<3} {'scenario':<46} {'tool':<8} {'calls/s':>8} {'p50 ms':>7} {'p99 ms':>7}  "
    f"{'ratio':<46} {'target':<24} {'result':<6} {'DB/call':>9} {'peak RSS MB':>12}"
)


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _primary(figure: Figure) -> Check | None:
    return next((c for c in figure.checks if "DB" not in c.target and "RSS" not in c.target), None)


def _marked(text: str, check: Check | None) -> str:
    return text if check is None or check.passed else f"{text} FAIL"


def row(f: Figure) -> str:
    if f.skipped:
        return f"{f.key:<3} {f.title:<46} skipped: {f.skipped}"
    primary = _primary(f)
    ratio = f"{f.ratio:.2f} vs {f.versus}" if f.ratio is not None else "-"
    db_check = next((c for c in f.checks if "DB" in c.target), None)
    rss_check = next((c for c in f.checks if "RSS" in c.target), None)
    db = _marked(_num(f.db_per_call, 3), db_check) if f.db_per_call is not None else "-"
    rss = _marked("/".join(f"{mb:.0f}" for mb in f.rss_mb.values()) or "-", rss_check)
    result = "-" if primary is None else ("PASS" if primary.passed else "FAIL")
    rate_digits = 1 if f.rate is not None and f.rate < 100 else 0
    return (
        f"{f.key:<3} {f.title[:46]:<46} {f.tool:<8} {_num(f.rate, rate_digits):>8} {_num(f.p50_ms, 2):>7} "
        f"{_num(f.p99_ms, 2):>7}  {ratio[:46]:<46} {primary.target if primary else '-':<24} {result:<6} "
        f"{db:>9} {rss:>12}"
    )


def table(figures: list[Figure], context: dict[str, Any]) -> str:
    lines = [
        f"authsvc benchmark  {context['started_at']}  {context['cores']} cores  PostgreSQL "
        f"{context['database']['version']} ({context['database']['source']})",
        f"event loops: {context['event_loops']}; {context['rounds']} rounds x {context['seconds']} s per "
        f"figure, each beside its floor; gRPC load {context['grpc_load']}, HTTP load {context['http_load']}",
        "",
        HEADER,
    ]
    lines += [row(f) for f in figures]
    failed = [(f, c) for f in figures for c in f.checks if not c.passed]
    notes = [f"{f.key}: {n}" for f in figures for n in f.notes]
    lines.append("")
    lines.append(f"targets missed: {', '.join(f'{f.key} {c.target}' for f, c in failed) or 'none'}")
    scored = sorted((c.score, f.key, c.target) for f, c in failed if c.score is not None)
    if scored:
        score, key, target = scored[0]
        lines.append(f"furthest below its target: {key} ({target}) at {score:.2f} of it")
    lines += [f"note {n}" for n in notes]
    lines.append("peak RSS is authsvc (/facade for REST)")
    lines.append("DB/call = PostgreSQL round trips per call, less what the servers' background work makes")
    return "\n".join(lines)


def write_json(path: Path, figures: list[Figure], context: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {**context, "figures": [asdict(f) for f in figures]}
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
