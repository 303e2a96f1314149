"""The order a replica keeps revocations in for its watchers, across a deaf spell and a full log."""

from __future__ import annotations

from authsvc.adapters import invalidation_messages as messages
from authsvc.adapters.revocation_feed import RevocationFeed
from authsvc.domain.revocations import Revoked


def _session(sequence: int) -> str:
    return messages.numbered(sequence, messages.session_revoked(f"s{sequence}"))


def _feed(capacity: int = 100) -> tuple[RevocationFeed, list[bool]]:
    complete = [True]
    return RevocationFeed(lambda: complete[0], capacity), complete


def test_after_a_deaf_spell_what_postgres_kept_comes_first_then_what_was_heard_once_each() -> None:
    feed, _ = _feed()
    feed.begin_load()
    feed.finish_load(None, 3)  # first load: the log starts at the latest number
    feed.heard(_session(4))
    feed.deaf()
    feed.heard(_session(5))  # deaf, not loading: PostgreSQL will give it back
    feed.begin_load()
    feed.heard(_session(6))  # heard while the missed ones are read: must wait for them
    feed.heard(_session(7))
    feed.finish_load([_session(5), _session(6)], 0)
    assert [r.sequence for r in feed.after(3)] == [4, 5, 6, 7]
    assert feed.can_resume(4) and feed.after(5)[0].ident == "s6"
    assert feed.after(6)[0].kind is Revoked.SESSION


def test_a_place_older_than_the_log_cannot_be_resumed() -> None:
    feed, _ = _feed(capacity=3)
    feed.begin_load()
    feed.finish_load(None, 10)
    for sequence in range(11, 16):
        feed.heard(_session(sequence))
    assert not feed.can_resume(10) and not feed.can_resume(11)
    assert feed.can_resume(12) and [r.sequence for r in feed.after(12)] == [13, 14, 15]
    assert not feed.can_resume(16)  # a place beyond what this replica has heard


def test_missed_revocations_that_cannot_all_be_had_start_the_log_again() -> None:
    feed, _ = _feed()
    feed.begin_load()
    feed.finish_load(None, 1)
    restarts = feed.restarts
    feed.deaf()
    feed.begin_load()
    feed.finish_load(None, 40)
    assert feed.restarts > restarts and feed.sequence == 40
    assert not feed.can_resume(1) and feed.can_resume(40) and feed.after(40) == []


def test_nothing_is_served_while_the_index_is_incomplete_nor_any_unnumbered_message() -> None:
    feed, complete = _feed()
    feed.begin_load()
    complete[0] = False
    feed.finish_load(None, 5)
    assert not feed.ready and not feed.can_resume(5)
    complete[0] = True
    feed.begin_load()
    feed.finish_load(None, 5)
    feed.heard(messages.session_revoked("older-release"))
    feed.heard(messages.key_created("k", b"\x00" * 32))
    assert feed.ready and feed.sequence == 5 and feed.after(0) == []
