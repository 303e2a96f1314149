"""`http-facade serve`: load settings, serve the REST API, drain in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from aiohttp import web

from authsvc import logs
from authsvc.env_config import ConfigError
from authsvc.event_loop import run
from http_facade import access_log
from http_facade.app import create_app
from http_facade.config import Settings
from http_facade.runner import FacadeRunner

log = logging.getLogger("http_facade")


async def serve(settings: Settings) -> None:
    runner = FacadeRunner(
        create_app(settings),
        shutdown_timeout=settings.shutdown_grace_seconds,
        access_log_class=access_log.AccessLog,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.port)
        await site.start()
        port = runner.addresses[0][1]
        target = settings.authsvc_target
        print(f"http-facade listening on http://{settings.host}:{port} (AuthService at {target})", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        log.info("shutting down: draining in-flight requests")
    finally:
        # Stops accepting, lets in-flight requests finish (up to the grace), then closes the channel.
        await runner.cleanup()
        access_log.flush()


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="http-facade", description="The public REST API over AuthService.")
    commands = root.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="serve the REST API (settings from HTTP_FACADE_* variables)")
    return root


def main(argv: list[str] | None = None) -> int:
    parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"http-facade: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)  # the same JSON lines as AuthService
    try:
        run(serve(settings))
    except OSError as error:  # the port is taken, the host cannot be bound...
        print(
            f"http-facade: cannot listen on {settings.host}:{settings.port}: {error.strerror}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
