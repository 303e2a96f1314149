"""Running a service's main coroutine: on uvloop where it is installed, else plain asyncio.

uvloop is measurably faster for both grpc.aio and aiohttp here (see bench/README.md).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    else:
        return uvloop.run(main)
