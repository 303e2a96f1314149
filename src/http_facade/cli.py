"""`http-facade serve`: load settings, serve the REST API, drain in-flight requests on SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys

from aiohttp import web

from authsvc import logs, metrics
from authsvc.env_config import ConfigError
from authsvc.event_loop import run
from authsvc.workers import (
    Scrape,
    StopSignal,
    Supervisor,
    child_command,
    die_with_parent,
    host_port,
    reserved_port,
    worker_count,
)
from http_facade import access_log
from http_facade.app import create_app
from http_facade.config import Settings
from http_facade.metrics import METRICS, own_metrics_served
from http_facade.runner import FacadeRunner

log = logging.getLogger("http_facade")


async def serve(settings: Settings, summed_metrics: str | None = None) -> None:
    """Serves until SIGTERM/SIGINT. `summed_metrics`: this is one of `--workers` processes; it
    shares the port and answers /metrics with the supervisor's sum of all of them."""
    stop = StopSignal()
    runner = FacadeRunner(
        create_app(settings, summed_metrics),
        shutdown_timeout=settings.shutdown_grace_seconds,
        access_log_class=access_log.AccessLog,
    )
    await runner.setup()
    try:
        worker = summed_metrics is not None
        site = web.TCPSite(runner, settings.host, settings.port, reuse_port=worker or None)
        await site.start()
        port = runner.addresses[0][1]
        async with contextlib.AsyncExitStack() as own:
            if worker:
                url = await own.enter_async_context(own_metrics_served(runner.app[METRICS]))
                print(f"http-facade worker metrics on {url}", flush=True)
            target = settings.authsvc_target
            print(
                f"http-facade listening on http://{settings.host}:{port} (AuthService at {target})",
                flush=True,
            )
            await stop.wait()
            log.info("shutting down: draining in-flight requests")
    finally:
        # Stops accepting, lets in-flight requests finish (up to the grace), then closes the channel.
        await runner.cleanup()
        access_log.flush()


async def serve_workers(settings: Settings) -> int:
    """`serve --workers N`: N facade processes on one port (authsvc.workers); /metrics on any of
    them answers with the sum of all, which this supervisor serves them on a loopback port."""
    stop = StopSignal()
    with reserved_port(host_port(settings.host, settings.port)) as (_host, port):
        supervisor: Supervisor | None = None

        def scrapes() -> list[Scrape]:
            return supervisor.scrapes() if supervisor is not None else []

        with metrics.serving_sum("127.0.0.1:0", scrapes, settings.workers) as sum_port:
            env = {**os.environ, "HTTP_FACADE_WORKERS": "1", "HTTP_FACADE_PORT": str(port)}
            summed = f"http://127.0.0.1:{sum_port}/metrics"
            supervisor = Supervisor(
                "http-facade", child_command("http_facade", "serve", "--summed-metrics", summed), env,
                settings.workers, ready=r"^http-facade listening on ",
                metrics=r"^http-facade worker metrics on (http://\S+)", grace=settings.shutdown_grace_seconds,
            )  # fmt: skip
            try:
                if not await stop.interrupts(supervisor.start()):
                    target = settings.authsvc_target
                    print(
                        f"http-facade listening on http://{settings.host}:{port} (AuthService at {target}; "
                        f"{settings.workers} workers)",
                        flush=True,
                    )
                    await stop.wait()
                log.info("shutting down: stopping the workers")
            finally:
                code = await supervisor.stop()
    return code


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="http-facade", description="The public REST API over AuthService.")
    commands = root.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve the REST API (settings from HTTP_FACADE_* variables)")
    serving.add_argument(
        "--workers", type=_workers, default=None, metavar="N",
        help="processes serving the port together, or auto (one per core); default HTTP_FACADE_WORKERS, 1",
    )  # fmt: skip
    serving.add_argument("--summed-metrics", default=None, help=argparse.SUPPRESS)  # a worker's
    return root


def _workers(value: str) -> int:
    try:
        return worker_count(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"http-facade: configuration error: {error}", file=sys.stderr)
        return 2
    if args.workers is not None:
        settings = settings.model_copy(update={"workers": args.workers})
    logs.configure(settings.log_level)  # the same JSON lines as AuthService
    try:
        if settings.workers > 1 and args.summed_metrics is None:
            return run(serve_workers(settings))
        if args.summed_metrics is not None:
            die_with_parent()  # a worker of `serve --workers`: never outlive the supervisor
        run(serve(settings, args.summed_metrics))
    except OSError as error:  # the port is taken, the host cannot be bound...
        print(
            f"http-facade: cannot listen on {settings.host}:{settings.port}: {error.strerror}",
            file=sys.stderr,
        )
        return 1
    except RuntimeError as error:  # a worker that could not start, an address that is no address
        print(f"http-facade: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
