"""A real nginx (the Debian package, which `make test` installs) on loopback, as a child process.

Each instance runs in the foreground (`daemon off; master_process off;`) in a temporary prefix of
its own: config, pid, logs and temp files. Whatever happens inside `running_nginx`, the process is
stopped (SIGTERM, then SIGKILL) and waited for before the prefix is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.addresses import free_port
from tests.support.children import stop, wait_until_listening

PACKAGE = "nginx"  # Debian 12: the binary, built with the auth_request module
START_TIMEOUT_SECONDS = 10.0


class NginxUnavailable(RuntimeError):
    """nginx is missing: the gateway tests must fail, not skip."""


def _installed() -> str | None:
    return shutil.which("nginx") or next(
        (path for path in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(path, os.X_OK)), None
    )


def nginx_binary_path() -> str:
    """The nginx binary, which `make test` installs (Debian's package) when it is missing. Raises
    NginxUnavailable otherwise: the gateway tests must fail, not skip."""
    found = _installed()
    if found is None:
        raise NginxUnavailable(f"nginx is not installed: `make test` installs Debian's {PACKAGE}")
    return found


@dataclass
class Nginx:
    url: str
    prefix: Path
    process: asyncio.subprocess.Process

    def log(self) -> str:
        return (self.prefix / "error.log").read_text(errors="replace")


@contextlib.asynccontextmanager
async def running_nginx(binary: str, config: Callable[[Path, int], str]) -> AsyncIterator[Nginx]:
    """nginx on a free loopback port with `config(prefix, port)` as its whole configuration."""
    with tempfile.TemporaryDirectory(prefix="authsvc-nginx-") as tmp:
        prefix, port = Path(tmp), free_port()
        (prefix / "nginx.conf").write_text(config(prefix, port))
        process = await asyncio.create_subprocess_exec(
            binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log"),
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        error_log = prefix / "error.log"

        def log() -> str:
            return error_log.read_text(errors="replace") if error_log.exists() else ""

        try:
            await wait_until_listening("nginx", port, process, log, START_TIMEOUT_SECONDS)
            yield Nginx(f"http://127.0.0.1:{port}", prefix, process)
        finally:
            await stop(process)


@dataclass(frozen=True)
class Guard:
    """A location of the gateway: requests under `path` go to the app once `facade`'s
    /api/v1/auth/verify admits them with `permissions`."""

    path: str
    facade: str
    permissions: str


# The forward-auth configuration docs/gateways.md documents, split as a deployment would split it.
# In the protected location: ask the facade, pass who the caller is on, show refusals as JSON.
FORWARD_AUTH = r"""
auth_request_set $authsvc_subject     $upstream_http_x_auth_subject;
auth_request_set $authsvc_kind        $upstream_http_x_auth_kind;
auth_request_set $authsvc_user        $upstream_http_x_auth_user;
auth_request_set $authsvc_workspace   $upstream_http_x_auth_workspace;
auth_request_set $authsvc_permissions $upstream_http_x_auth_permissions;
auth_request_set $authsvc_environment $upstream_http_x_auth_environment;
auth_request_set $authsvc_key_name    $upstream_http_x_auth_key_name;
auth_request_set $authsvc_challenge   $upstream_http_www_authenticate;
auth_request_set $authsvc_status      $upstream_status;
auth_request_set $authsvc_retry_after $upstream_http_retry_after;
error_page 401 = @authsvc_401;
error_page 403 = @authsvc_403;
error_page 500 = @authsvc_error;
# These replace whatever the client sent under the same names.
proxy_set_header X-Auth-Subject     $authsvc_subject;
proxy_set_header X-Auth-Kind        $authsvc_kind;
proxy_set_header X-Auth-User        $authsvc_user;
proxy_set_header X-Auth-Workspace   $authsvc_workspace;
proxy_set_header X-Auth-Permissions $authsvc_permissions;
proxy_set_header X-Auth-Environment $authsvc_environment;
proxy_set_header X-Auth-Key-Name    $authsvc_key_name;
proxy_set_header X-Request-ID       $request_id;
"""
# In the internal location that calls the facade: a GET without the client's body.
VERIFY = r"""
internal;
proxy_method GET;
proxy_pass_request_body off;
proxy_set_header Content-Length "";
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Request-ID $request_id;
"""
# In `http`: the facade's 401 text, from its WWW-Authenticate error_description (RFC 6750).
DETAIL_MAP = r"""
map $authsvc_challenge $authsvc_detail {
    "~error_description=\"(?<text>[^\"\\\\]*)\"" $text;
    "~error=\"invalid_token\""                    "Invalid or expired token";
    default                                       "Not authenticated";
}
"""
# In `server`: the refusals, as the facade's `{"detail": ...}`. nginx keeps a refusal's status
# and, for a 401, its WWW-Authenticate; it drops the body, and turns any other status into 500.
REFUSALS = r"""
location @authsvc_401 {
    default_type application/json;
    return 401 '{"detail": "$authsvc_detail"}';
}
location @authsvc_403 {
    default_type application/json;
    add_header WWW-Authenticate $authsvc_challenge always;
    return 403 '{"detail": "Insufficient permissions"}';
}
location @authsvc_error {
    default_type application/json;
    if ($authsvc_status = 429) {
        add_header Retry-After $authsvc_retry_after always;
        return 429 '{"detail": "Rate limit exceeded"}';
    }
    if ($authsvc_status = 400) {
        return 400 '{"detail": "Malformed Authorization header"}';
    }
    return 503 '{"detail": "Service unavailable"}';
}
"""


def gateway_config(upstream: str, guards: Sequence[Guard]) -> Callable[[Path, int], str]:
    """A whole nginx.conf: each guard's path proxied to `upstream` behind forward auth."""

    def render(prefix: Path, port: int) -> str:
        for name, text in (("authsvc-forward-auth.conf", FORWARD_AUTH), ("authsvc-verify.conf", VERIFY)):
            (prefix / name).write_text(text)
        locations = "".join(
            f"""
        location {guard.path} {{
            auth_request /_authsvc{guard.path};
            include {prefix}/authsvc-forward-auth.conf;
            proxy_pass {upstream};
        }}
        location = /_authsvc{guard.path} {{
            include {prefix}/authsvc-verify.conf;
            proxy_pass {guard.facade}/api/v1/auth/verify?permissions={guard.permissions};
        }}"""
            for guard in guards
        )
        return f"""
daemon off;
master_process off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    {DETAIL_MAP}
    server {{
        listen 127.0.0.1:{port};
        {locations}
        {REFUSALS}
    }}
}}
"""

    return render
