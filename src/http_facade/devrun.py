"""`make run`: AuthService and the REST facade as two child processes that live and stop together.

SIGINT/SIGTERM are passed on to both, once; when either child exits, the other is stopped too, and
the exit status is the first one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import sys

STOP_GRACE_SECONDS = 15.0


def commands() -> list[list[str]]:
    return [
        [sys.executable, "-m", "authsvc", "serve"],
        [sys.executable, "-m", "http_facade", "serve"],
    ]


def child_env() -> dict[str, str]:
    """The facade calls the AuthService this command starts, unless told otherwise, and proves
    itself with a proxy token made for this run, so AuthService believes the client IPs it names
    (and no other local process)."""
    env = dict(os.environ)
    if "AUTHSVC_GRPC_ADDRESS" in env:
        env.setdefault("HTTP_FACADE_AUTHSVC_TARGET", env["AUTHSVC_GRPC_ADDRESS"])
    if not env.get("AUTHSVC_PROXY_TOKENS") and not env.get("HTTP_FACADE_PROXY_TOKEN"):
        token = secrets.token_urlsafe(32)
        env["AUTHSVC_PROXY_TOKENS"] = env["HTTP_FACADE_PROXY_TOKEN"] = token
    return env


async def supervise(argvs: list[list[str]], env: dict[str, str]) -> int:
    # Own sessions: a terminal's Ctrl+C reaches the supervisor alone, and each child gets one signal.
    children = [
        await asyncio.create_subprocess_exec(*argv, env=env, start_new_session=True) for argv in argvs
    ]
    loop = asyncio.get_running_loop()
    signalled: list[signal.Signals] = []

    def forward(signum: signal.Signals) -> None:
        signalled.append(signum)
        for child in children:
            if child.returncode is None:
                child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, forward, signum)
    waits = [asyncio.create_task(child.wait()) for child in children]
    done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    first = next(iter(done)).result()
    if not signalled:
        name = argvs[waits.index(next(iter(done)))][2]
        print(f"devrun: {name} exited with status {first}; stopping the other service", file=sys.stderr)
        forward(signal.SIGTERM)
    try:
        await asyncio.wait_for(asyncio.gather(*waits), STOP_GRACE_SECONDS)
    except TimeoutError:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
        await asyncio.gather(*waits)
    return first if first >= 0 else 128 - first  # killed by signal N: the shell's 128 + N


def main() -> int:
    return asyncio.run(supervise(commands(), child_env()))


if __name__ == "__main__":
    sys.exit(main())
