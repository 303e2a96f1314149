"""`@require(...)`: the permissions a handler needs, declared next to it, for the aiohttp middleware
and the gRPC interceptor alike, and the one way both read them back.

A mark is read through every layer a handler can hide behind: `functools.partial`, decorators
that use `functools.wraps`, bound methods (whose class may be marked too) and aiohttp's
class-based views (the class and the method serving the request). The marks found are added up,
so wrapping a handler can add requirements, never drop one.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from authsvc.domain.permissions import is_well_formed

_REQUIRED = "__authsvc_required__"
Marked = TypeVar("Marked")


def require(*permissions: str) -> Callable[[Marked], Marked]:
    """Marks a handler (a coroutine function, a servicer method or a `web.View` class) as
    needing every one of `permissions`. Marks add up: on a view class and on its method, both."""
    if len(permissions) == 1 and callable(permissions[0]):
        raise TypeError('write @require("resource:action"), with the permissions, not bare @require')
    needed = checked_permissions(permissions)

    def mark(handler: Marked) -> Marked:
        if not callable(handler):
            raise TypeError(f"@require marks a handler or a view class, not {handler!r}")
        earlier = getattr(handler, _REQUIRED, ())
        setattr(handler, _REQUIRED, (*earlier, *needed))
        return handler

    return mark


def checked_permissions(permissions: Iterable[str], *, allow_none: bool = False) -> tuple[str, ...]:
    """`permissions` as a tuple, refused at once (ValueError) when one is not a `resource:action`
    name: a misspelt permission would otherwise be one that nobody holds, or worse, a string
    iterated letter by letter."""
    if isinstance(permissions, str):
        raise TypeError(f"permissions must be a list of names, not the string {permissions!r}")
    names = tuple(permissions)
    if not names and not allow_none:
        raise ValueError("@require needs at least one permission")
    for name in names:
        if not isinstance(name, str) or not is_well_formed(name):
            raise ValueError(f"{name!r} is not a permission name like 'geofences:read'")
    return names


def marked_requirements(handler: Any, view_method: str | None = None) -> tuple[str, ...] | None:
    """Every permission marked on `handler` or what it wraps (None: no mark at all). For a
    class-based view, `view_method` names the method serving the request ("get", "post"...)."""
    found: list[str] = []
    marked = False
    for layer in _layers(handler):
        if _own_mark(layer):
            marked = True
            found.extend(getattr(layer, _REQUIRED))
        if inspect.isclass(layer) and view_method is not None:
            method = getattr(layer, view_method, None)
            inner = marked_requirements(method) if method is not None else None
            if inner is not None:
                marked = True
                found.extend(inner)
    return tuple(dict.fromkeys(found)) if marked else None


def _layers(handler: Any) -> Iterable[Any]:
    """`handler` and everything it wraps, outermost first."""
    seen: set[int] = set()
    while handler is not None and id(handler) not in seen:
        seen.add(id(handler))
        yield handler
        if inspect.ismethod(handler):
            yield type(handler.__self__)  # a servicer class marked as a whole
            handler = handler.__func__
        elif isinstance(handler, functools.partial):
            handler = handler.func
        else:
            handler = getattr(handler, "__wrapped__", None)


def _own_mark(layer: Any) -> bool:
    """Whether `layer` carries a mark: for a class, inherited marks count (a subclass of a
    protected view is protected); a bound method's attributes are its function's."""
    return hasattr(layer, _REQUIRED)
