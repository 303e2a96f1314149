"""`python -m bench` (what `make bench` runs): measure, print the table, write the JSON."""

from __future__ import annotations

import asyncio
import sys

from bench import options, report, runner, servers, tools


def main(argv: list[str] | None = None) -> int:
    chosen = options.parse(argv)
    if missing := tools.missing_tools():
        print(f"bench: {', '.join(missing)} not found; `make bench` installs them", file=sys.stderr)
        return 2
    try:
        figures, context = asyncio.run(runner.run(chosen))
    except servers.ServerFailed as error:
        print(f"bench: {error} (logs: {chosen.logs})", file=sys.stderr)
        return 1
    report.write_json(chosen.out, figures, context)
    print()
    print(report.table(figures, context))
    for name, profile in (context.get("profile") or {}).items():
        print(f"\npy-spy, AuthService under {name} load:")
        lines = profile.get("summary") if isinstance(profile, dict) else None
        print("\n".join(lines[:20]) if lines else profile)
    print(f"\nwritten: {chosen.out} (profiles and server logs beside it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
