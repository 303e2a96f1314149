"""The revocation index and key cache: when they may answer, and what notifications do to them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from authsvc.adapters.validation_cache import UNLISTED, ValidationCache
from authsvc.service.ports import ApiKeyRecord


def a_key() -> ApiKeyRecord:
    return ApiKeyRecord(
        "key-1",
        "w",
        "u",
        "k",
        "sf_live_abcd",
        frozenset({"geofences:read"}),
        "live",
        datetime.now(UTC),
        None,
        None,
    )


def listening_cache() -> ValidationCache:
    cache = ValidationCache()
    cache.set_listening(True)
    epoch = cache.begin_index_load()
    cache.finish_index_load(epoch, ["revoked-session"], ["disabled-user"])
    return cache


def test_the_index_answers_only_while_listening_and_complete() -> None:
    cache = ValidationCache()
    assert cache.session_is_live("s", "u") is None  # not listening: ask the database
    cache.set_listening(True)
    assert cache.session_is_live("s", "u") is None  # listening, index not read yet
    cache = listening_cache()
    assert cache.session_is_live("s", "u") is True
    assert cache.session_is_live("revoked-session", "u") is False
    assert cache.session_is_live("s", "disabled-user") is False
    cache.set_listening(False)
    assert cache.session_is_live("s", "u") is None


def test_notifications_revoke_at_once_even_during_a_load() -> None:
    cache = listening_cache()
    cache.invalidate("session:later")
    assert cache.session_is_live("later", "u") is False
    epoch = cache.begin_index_load()
    cache.invalidate("user:u2")  # arrives while the database is being read
    cache.finish_index_load(epoch, [], [])
    assert cache.session_is_live("s", "u2") is False


def test_a_load_that_straddles_a_reconnect_is_not_trusted() -> None:
    cache = ValidationCache()
    cache.set_listening(True)
    epoch = cache.begin_index_load()
    cache.set_listening(False)
    cache.set_listening(True)
    cache.finish_index_load(epoch, [], [])
    assert cache.session_is_live("s", "u") is None


def test_warmed_keys_answer_until_revoked_even_when_revoked_during_the_load() -> None:
    record = a_key()
    cache = ValidationCache()
    cache.set_listening(True)
    epoch = cache.begin_index_load()
    cache.finish_index_load(epoch, [], [], [(b"digest-1", record)])
    assert cache.api_keys.get(b"digest-1") == record
    cache.invalidate("api_key:key-1")
    assert ValidationCache.missing(cache.api_keys.get(b"digest-1"))

    epoch = cache.begin_index_load()
    cache.invalidate("api_key:key-1")  # revoked while the database was being read
    cache.finish_index_load(epoch, [], [], [(b"digest-1", record)])
    assert ValidationCache.missing(cache.api_keys.get(b"digest-1"))


def test_an_unknown_message_makes_the_index_ask_the_database_until_reloaded() -> None:
    cache = listening_cache()
    assert cache.invalidate("flush") is False
    assert cache.session_is_live("s", "u") is None  # not "live": the database decides now

    epoch = cache.begin_index_load()
    cache.invalidate("something-new:1")  # heard during a load: that load is not trusted either
    cache.finish_index_load(epoch, ["revoked-session"], [])
    assert cache.session_is_live("revoked-session", "u") is None
    epoch = cache.begin_index_load()
    cache.finish_index_load(epoch, ["revoked-session"], [])
    assert cache.session_is_live("revoked-session", "u") is False


def test_made_up_keys_cannot_push_real_ones_out() -> None:
    record = a_key()
    cache = ValidationCache(max_entries=20)
    cache.set_listening(True)
    cache.remember_key(b"real", record, cache.generation)
    for i in range(1000):
        cache.remember_key(f"made-up-{i}".encode(), None, cache.generation)
    assert cache.lookup_key(b"real") == record
    assert cache.lookup_key(b"made-up-999") is None


def test_a_lookup_that_raced_with_what_made_it_stale_is_not_stored() -> None:
    record = a_key()
    cache = ValidationCache()
    cache.set_listening(True)

    before = cache.generation
    cache.invalidate(f"api_key:{record.id}")  # revoked while it was being looked up
    cache.remember_key(b"digest", record, before)
    assert ValidationCache.missing(cache.lookup_key(b"digest"))

    before = cache.generation
    cache.invalidate("user:someone")  # a user disabled meanwhile: any key may be theirs
    cache.remember_key(b"digest", record, before)
    assert ValidationCache.missing(cache.lookup_key(b"digest"))

    before = cache.generation
    cache.invalidate("api_key_created:new-key")  # "no such key" may be stale now
    cache.remember_key(b"new", None, before)
    assert ValidationCache.missing(cache.lookup_key(b"new"))


def test_notifications_that_stale_nothing_do_not_stop_caching() -> None:
    """A bulk creation, or logouts, while keys are looked up: their records are still kept."""
    record = a_key()
    cache = ValidationCache()
    cache.set_listening(True)
    before = cache.generation
    for i in range(100):
        cache.invalidate(f"api_key_created:other-{i}")
        cache.invalidate(f"session:s-{i}")
    cache.remember_key(b"digest", record, before)
    assert cache.lookup_key(b"digest") == record

    before = cache.generation
    cache.invalidate("session:s-x")
    cache.remember_key(b"unknown", None, before)
    assert cache.lookup_key(b"unknown") is None


def test_a_full_key_cache_drops_its_oldest_keys_not_all_of_them() -> None:
    cache = ValidationCache(max_entries=20)
    cache.set_listening(True)
    records = [replace(a_key(), id=f"key-{i}") for i in range(45)]
    for i, record in enumerate(records[:21]):  # one more than it holds
        cache.remember_key(f"d{i}".encode(), record, cache.generation)
    assert cache.lookup_key(b"d20") == records[20]
    assert cache.lookup_key(b"d19") == records[19]  # recent keys survive the overflow
    assert ValidationCache.missing(cache.lookup_key(b"d0"))
    for i, record in enumerate(records[21:], start=21):  # past the id index's own bound too
        cache.remember_key(f"d{i}".encode(), record, cache.generation)
    cache.invalidate("api_key:key-43")  # a revocation still finds its digest
    assert ValidationCache.missing(cache.lookup_key(b"d43"))
    assert cache.lookup_key(b"d44") == records[44]


LIVE, OTHER = bytes(32), b"\x01" * 32


def test_live_digests_refuse_any_other_key_without_asking() -> None:
    cache = ValidationCache()
    assert ValidationCache.missing(cache.lookup_key(OTHER))  # not listening: ask
    cache.set_listening(True)
    epoch = cache.begin_index_load()
    assert ValidationCache.missing(cache.lookup_key(OTHER))  # listening, digests not read yet: ask
    cache.finish_index_load(epoch, [], [], [], [LIVE])
    assert cache.lookup_key(OTHER) is UNLISTED  # no live key has it, as far as heard: refused once caught up
    assert ValidationCache.missing(cache.lookup_key(LIVE))  # a live key not cached yet: ask
    cache.set_listening(False)
    assert ValidationCache.missing(cache.lookup_key(OTHER))


def test_a_created_key_is_live_as_soon_as_it_is_announced_even_during_a_load() -> None:
    new, later = b"\x02" * 32, b"\x03" * 32
    cache = ValidationCache()
    cache.set_listening(True)
    cache.finish_index_load(cache.begin_index_load(), [], [], [], [LIVE])
    assert cache.invalidate(f"api_key_created:k1:{new.hex()}") is True
    assert ValidationCache.missing(cache.lookup_key(new))
    epoch = cache.begin_index_load()
    cache.invalidate(f"api_key_created:k2:{later.hex()}")  # committed after the load's snapshot
    cache.finish_index_load(epoch, [], [], [], [LIVE])
    assert ValidationCache.missing(cache.lookup_key(later))
    assert cache.lookup_key(OTHER) is UNLISTED


def test_a_creation_announced_without_its_digest_makes_misses_ask_until_reloaded() -> None:
    cache = ValidationCache()
    cache.set_listening(True)
    cache.finish_index_load(cache.begin_index_load(), [], [], [], [LIVE])
    assert cache.invalidate("api_key_created:from-an-older-release") is False  # the caller reloads
    assert ValidationCache.missing(cache.lookup_key(OTHER))
    cache.finish_index_load(cache.begin_index_load(), [], [], [], [LIVE, OTHER])
    assert ValidationCache.missing(cache.lookup_key(OTHER))  # live now, and asked for
    assert cache.lookup_key(b"\x04" * 32) is UNLISTED
