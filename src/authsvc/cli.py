"""`authsvc serve | migrate | user create | user disable | keys rotate | keys list`: parse, load, run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from datetime import UTC, datetime

import grpc

from authsvc import logs, metrics
from authsvc.adapters.pg_workspace_plans import set_plan
from authsvc.adapters.provision import shared_database
from authsvc.adapters.signing_algorithms import ALGORITHMS, public_pem
from authsvc.bootstrap import Runtime, ensure_first_admin, open_runtime
from authsvc.config import Settings, read_plans
from authsvc.domain.errors import AuthError, ErrorCode
from authsvc.domain.plans import check_plan_name
from authsvc.domain.tokens import MAX_ACCESS_TTL
from authsvc.env_config import ConfigError
from authsvc.event_loop import run
from authsvc.grpc_api.health import ServingHealth
from authsvc.grpc_api.peers import TrustedProxies
from authsvc.grpc_api.server import start_server
from authsvc.workers import (
    StopSignal,
    Supervisor,
    child_command,
    die_with_parent,
    host_port,
    reserved_port,
    worker_count,
)

log = logging.getLogger("authsvc")


async def serve(settings: Settings) -> None:
    async with open_runtime(settings) as runtime:
        await _first_admin(runtime)
        health = ServingHealth(runtime.database.ping)
        await health.check_once()
        health_task = asyncio.create_task(health.run())
        try:
            proxies = TrustedProxies(settings.proxy_tokens, settings.trusted_proxies)
            server, port = await start_server(
                runtime.services, settings.grpc_address, health, proxies, settings.envoy_check_cost
            )
            host = settings.grpc_address.rsplit(":", 1)[0]
            with metrics.serving(settings.metrics_address, runtime.database.pool) as metrics_port:
                if metrics_port is not None:
                    metrics_host = settings.metrics_address.rsplit(":", 1)[0] or "127.0.0.1"
                    print(f"authsvc metrics on http://{metrics_host}:{metrics_port}/metrics", flush=True)
                print(f"authsvc listening on {host}:{port}", flush=True)
                await _until_stopped(server, health, settings.shutdown_grace_seconds)
        finally:
            health_task.cancel()
            await asyncio.gather(health_task, return_exceptions=True)


async def _first_admin(runtime: Runtime, embedded: bool | None = None) -> None:
    created = await ensure_first_admin(runtime, embedded)
    if created is not None:
        email, password = created
        print(
            f"Created the first admin (shown once, store it now): email={email} password={password}",
            flush=True,
        )


async def serve_workers(settings: Settings) -> int:
    """`serve --workers N`: migrates and creates the first admin once, then runs N `serve`
    processes on one port (authsvc.workers) and sums their metrics; SIGTERM stops them together."""
    stop = StopSignal()  # from the start: migrations and starting the workers take a while
    async with shared_database(settings) as shared:
        async with open_runtime(shared) as runtime:
            await _first_admin(runtime, embedded=settings.embedded)
        with reserved_port(settings.grpc_address) as (host, port):
            env = {
                **os.environ,
                "AUTHSVC_WORKERS": "1",
                "AUTHSVC_GRPC_ADDRESS": host_port(host, port),
                "AUTHSVC_METRICS_ADDRESS": "127.0.0.1:0" if settings.metrics_address else "",
            }
            if settings.embedded:  # the supervisor's embedded server, by URL (adapters.provision)
                assert shared.database_url is not None and shared.jwt_secret is not None
                env.update(
                    AUTHSVC_DATABASE_URL=shared.database_url, AUTHSVC_JWT_SECRET=shared.jwt_secret.hex()
                )
            supervisor = Supervisor(
                "authsvc", child_command("authsvc", "serve"), env, settings.workers,
                ready=r"^authsvc listening on ", metrics=r"^authsvc metrics on (http://\S+)",
                grace=settings.shutdown_grace_seconds,
            )  # fmt: skip
            try:
                if not await stop.interrupts(supervisor.start()):
                    address = settings.metrics_address
                    with metrics.serving_sum(address, supervisor.scrapes, settings.workers) as metrics_port:
                        if metrics_port is not None:
                            metrics_host = address.rsplit(":", 1)[0] or "127.0.0.1"
                            print(
                                f"authsvc metrics on http://{metrics_host}:{metrics_port}/metrics", flush=True
                            )
                        shown = settings.grpc_address.rsplit(":", 1)[0]
                        print(f"authsvc listening on {shown}:{port} ({settings.workers} workers)", flush=True)
                        await stop.wait()
                log.info("shutting down: stopping the workers")
            finally:
                code = await supervisor.stop()
    return code


async def _until_stopped(server: grpc.aio.Server, health: ServingHealth, grace: float) -> None:
    """Waits for SIGTERM/SIGINT, then stops taking calls and drains the ones in flight."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        log.info("shutting down: draining in-flight calls")
        await health.shutting_down()
        await server.stop(grace)


async def run_migrations(settings: Settings) -> None:
    async with open_runtime(settings):
        print("migrations applied", flush=True)


async def create_user(settings: Settings, email: str, role: str, workspace: str) -> None:
    password = sys.stdin.readline().rstrip("\r\n")
    async with open_runtime(settings) as runtime:
        user = await runtime.services.users.create(email, password, role, workspace)
        role_name = user.membership.role.value if user.membership else role
        print(f"created user {user.id} ({user.email}, {role_name}) in workspace {workspace}")


async def add_to_workspace(settings: Settings, email: str, role: str, workspace: str) -> None:
    async with open_runtime(settings) as runtime:
        await runtime.services.users.add_to_workspace(email, role, workspace)
        print(f"{email} is now a member ({role}) of workspace {workspace}")


async def disable_user(settings: Settings, email: str | None, user_id: str | None) -> None:
    async with open_runtime(settings) as runtime:
        await runtime.services.users.disable(email, user_id)
        print(f"disabled {email or user_id}: its sessions and API keys no longer validate")


async def rotate_keys(settings: Settings, algorithm: str) -> None:
    async with open_runtime(settings) as runtime:
        retire_delay = max(MAX_ACCESS_TTL, settings.refresh_token_ttl_seconds) + settings.jwt_leeway_seconds
        kid = await runtime.signing_keys.rotate(
            algorithm, datetime.now(UTC), settings.key_activation_seconds, retire_delay
        )
        print(
            f"new {algorithm} signing key {kid}: signs from {settings.key_activation_seconds:g} s from now; "
            f"the previous keys verify for {retire_delay // 86400} more days"
        )


async def list_keys(settings: Settings, pem: bool = False) -> None:
    """One line per key; with `pem`, each public key's PEM under its line (what a gateway that
    takes keys one by one, such as Kong's jwt plugin, is given). Never a private or HS256 key."""
    async with open_runtime(settings) as runtime:
        for key in await runtime.signing_keys.load():
            retire = (
                ""
                if key.retire_after is None
                else f" retires {datetime.fromtimestamp(key.retire_after, UTC)}"
            )
            active = datetime.fromtimestamp(key.active_from, UTC)
            print(f"{key.kid} {key.algorithm} active from {active}{retire}")
            if pem and key.public_jwk is not None:
                print(public_pem(key.verifying_key), end="")


async def set_workspace_plan(settings: Settings, workspace: str, plan: str) -> None:
    """Puts a workspace on a plan of AUTHSVC_PLANS_FILE; the operator's alone (no API does it)."""
    plans = read_plans(settings.plans_file)
    check_plan_name(plans, plan)
    async with open_runtime(settings) as runtime:
        if not await set_plan(runtime.database, workspace, plan):
            raise AuthError(ErrorCode.NOT_FOUND, f"No workspace named {workspace[:100]!r}")
    limits = ", ".join(f"{n} per {w}" for w, n in plans.of(plan).by_window().items()) or "unlimited"
    print(f"workspace {workspace} is on plan {plan} ({limits}), on every replica within a second")


def _workers(value: str) -> int:
    try:
        return worker_count(value)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="authsvc", description="The authsvc token service.")
    commands = root.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="apply pending migrations and serve gRPC AuthService")
    serving.add_argument(
        "--workers", type=_workers, default=None, metavar="N",
        help="processes serving the port together, or auto (one per core); default AUTHSVC_WORKERS, 1",
    )  # fmt: skip
    commands.add_parser("migrate", help="apply pending migrations and exit")
    user = commands.add_parser("user", help="manage users").add_subparsers(dest="action", required=True)
    create = user.add_parser("create", help="create a user; the password is read from stdin")
    create.add_argument("--email", required=True)
    create.add_argument("--role", choices=["admin", "member", "viewer"], default="member")
    create.add_argument("--workspace", default="default")
    join = user.add_parser("add-to-workspace", help="make an existing user a member of another workspace")
    join.add_argument("--email", required=True)
    join.add_argument("--role", choices=["admin", "member", "viewer"], default="member")
    join.add_argument("--workspace", required=True, help="the workspace's name (made if new)")
    keys = commands.add_parser("keys", help="manage JWT signing keys").add_subparsers(
        dest="action", required=True
    )
    rotate = keys.add_parser("rotate", help="add a signing key; older keys verify until their tokens expire")
    rotate.add_argument("--algorithm", choices=list(ALGORITHMS), default=None)
    listing = keys.add_parser("list", help="list signing keys (never their material)")
    listing.add_argument("--pem", action="store_true", help="print each public key as PEM too")
    disable = user.add_parser("disable", help="disable a user: logins, tokens and API keys stop working")
    who = disable.add_mutually_exclusive_group(required=True)
    who.add_argument("--email")
    who.add_argument("--id", help="the user id (as `authsvc migrate` reports look-alike accounts)")
    workspace = commands.add_parser("workspace", help="manage workspaces").add_subparsers(
        dest="action", required=True
    )
    set_plan_command = workspace.add_parser(
        "set-plan", help="put a workspace on a plan of AUTHSVC_PLANS_FILE"
    )
    set_plan_command.add_argument("--workspace", required=True, help="the workspace's name")
    set_plan_command.add_argument("--plan", required=True)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
    except ConfigError as error:
        print(f"authsvc: configuration error: {error}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        if args.command == "serve" and args.workers is not None:
            settings = settings.model_copy(update={"workers": args.workers})
        if args.command == "serve" and settings.workers > 1:
            return run(serve_workers(settings))
        if args.command == "serve":
            die_with_parent()  # a worker of `serve --workers`: never outlive the supervisor
            run(serve(settings))
        elif args.command == "migrate":
            run(run_migrations(settings))
        elif args.command == "keys" and args.action == "rotate":
            run(rotate_keys(settings, args.algorithm or settings.signing_algorithm))
        elif args.command == "keys":
            run(list_keys(settings, args.pem))
        elif args.command == "workspace":
            run(set_workspace_plan(settings, args.workspace, args.plan))
        elif args.action == "disable":
            run(disable_user(settings, args.email, args.id))
        elif args.action == "add-to-workspace":
            run(add_to_workspace(settings, args.email, args.role, args.workspace))
        else:
            run(create_user(settings, args.email, args.role, args.workspace))
    except AuthError as error:
        print(f"authsvc: {error.detail}", file=sys.stderr)
        return 1
    except (OSError, RuntimeError) as error:  # an address already taken, say
        print(f"authsvc: cannot serve: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(main())
