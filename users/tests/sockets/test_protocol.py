"""The socket's message parsing and flood budget (users/sockets/protocol.py)."""

import pytest

from users.sockets import protocol


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"type": "auth", "access": "t"}', {"type": "auth", "access": "t", "since": None}),
        ('{"type": "auth", "access": "t", "since": "1.2."}', {"type": "auth", "access": "t", "since": "1.2."}),
        ('{"type": "state", "state": "idle"}', {"type": "state", "state": "idle"}),
        ('{"type": "ping", "extra": 1}', {"type": "ping"}),
    ],
)
def test_valid_messages_parse_to_their_fields(text, parsed):
    assert protocol.parse(text) == parsed


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("nope", "invalid_json"),
        ("null", "invalid_message"),
        ('{"type": null}', "invalid_message"),
        ('{"type": "auth"}', "invalid_message"),
        ('{"type": "auth", "access": ""}', "invalid_message"),
        ('{"type": "state", "state": "online"}', "invalid_message"),
        ('{"type": "presence"}', "unknown_type"),
    ],
)
def test_invalid_messages_are_refused_with_a_code(text, code):
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse(text)
    assert refused.value.code == code


def test_the_budget_allows_a_burst_then_refuses(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(protocol.time, "monotonic", lambda: now[0])
    budget = protocol.MessageBudget(burst=3, per_second=1)
    assert [budget.spend() for _ in range(4)] == [True, True, True, False]
    now[0] += 1
    assert budget.spend() is True


def test_a_big_answer_goes_out_in_parts_and_only_the_last_carries_the_cursor_to_keep():
    users = [{"id": i} for i in range(protocol.USERS_PER_MESSAGE * 2 + 1)]

    parts = protocol.presence("C", True, users)

    assert [len(p["users"]) for p in parts] == [protocol.USERS_PER_MESSAGE, protocol.USERS_PER_MESSAGE, 1]
    assert [p["full"] for p in parts] == [True, False, False]
    assert [p.get("more") for p in parts] == [True, True, None]
    assert [u for p in parts for u in p["users"]] == users


def test_a_small_or_empty_answer_is_one_message():
    assert protocol.presence("C", False, []) == [{"type": "presence", "cursor": "C", "full": False, "users": []}]
