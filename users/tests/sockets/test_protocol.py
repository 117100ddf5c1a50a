"""The socket's message parsing, flood budget and presence frames (users/sockets/protocol.py)."""

import json

import orjson
import pytest

from users.sockets import protocol


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ('{"type": "auth", "access": "t"}', {"type": "auth", "access": "t", "since": None, "watch": None}),
        (
            '{"type": "auth", "access": "t", "since": "1.2."}',
            {"type": "auth", "access": "t", "since": "1.2.", "watch": None},
        ),
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

    parts = [json.loads(text) for text in protocol.presence("1.2.", True, [orjson.dumps(u).decode() for u in users])]

    assert [len(p["users"]) for p in parts] == [protocol.USERS_PER_MESSAGE, protocol.USERS_PER_MESSAGE, 1]
    assert [p["full"] for p in parts] == [True, False, False]
    assert [p.get("more") for p in parts] == [True, True, None]
    assert [p["cursor"] for p in parts] == ["1.2."] * 3
    assert [u for p in parts for u in p["users"]] == users


def test_a_small_or_empty_answer_is_one_message():
    assert [json.loads(t) for t in protocol.presence("1.2.", False, [])] == [
        {"type": "presence", "cursor": "1.2.", "full": False, "users": []}
    ]


def test_entries_are_joined_into_the_json_a_client_parses():
    user = {"id": 7, "username": 'quote " and \\ slash', "last_seen": None, "online_status": "away"}

    (text,) = protocol.presence("1.2.3-4", False, [orjson.dumps(user).decode()])

    assert json.loads(text) == {"type": "presence", "cursor": "1.2.3-4", "full": False, "users": [user]}


@pytest.mark.parametrize(
    ("text", "watch"),
    [
        ('{"type": "auth", "access": "t", "watch": "all"}', "all"),
        ('{"type": "auth", "access": "t", "watch": [3, 1]}', frozenset({1, 3})),
        ('{"type": "auth", "access": "t", "watch": []}', frozenset()),
        ('{"type": "auth", "access": "t", "watch": null}', None),
    ],
)
def test_auth_may_carry_a_watch_list(text, watch):
    assert protocol.parse(text)["watch"] == watch


@pytest.mark.parametrize(
    ("users", "parsed"),
    [("all", "all"), ([], frozenset()), ([5, 2, 9], frozenset({2, 5, 9})), ([2**63 - 1], frozenset({2**63 - 1}))],
)
def test_a_watch_message_names_everyone_or_a_list(users, parsed):
    assert protocol.parse(json.dumps({"type": "watch", "users": users})) == {"type": "watch", "users": parsed}


@pytest.mark.parametrize(
    "users",
    [None, "everyone", 5, {"1": 2}, [1, 1], [1, "2"], [1.0], [True], [0], [-3], [2**63], [[1]]],
    ids=[
        "missing",
        "a-word",
        "a-number",
        "an-object",
        "duplicates",
        "a-string-id",
        "a-float",
        "a-boolean",
        "zero",
        "negative",
        "past-a-bigint",
        "nested",
    ],
)
def test_a_bad_watch_list_is_refused_with_a_code(users):
    message = {"type": "watch"} if users is None else {"type": "watch", "users": users}
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse(json.dumps(message))
    assert refused.value.code == "invalid_watch" and refused.value.detail


def test_a_watch_list_over_the_limit_is_refused(settings):
    settings.PRESENCE_WATCH_MAX = 3
    assert protocol.parse('{"type": "watch", "users": [1, 2, 3]}')["users"] == frozenset({1, 2, 3})
    with pytest.raises(protocol.ProtocolError) as refused:
        protocol.parse('{"type": "watch", "users": [1, 2, 3, 4]}')
    assert refused.value.code == "invalid_watch" and "3" in refused.value.detail


def test_the_frame_limit_fits_an_auth_with_the_longest_watch_list(settings):
    settings.PRESENCE_WATCH_MAX = 1000
    longest = {
        "type": "auth",
        "access": "x" * 1000,
        "since": "9" * 20 + ".1.",
        "watch": list(range(2**63 - 1000, 2**63)),
    }
    text = json.dumps(longest)
    assert len(text) <= protocol.max_message_chars()
    assert protocol.parse(text)["watch"] == frozenset(longest["watch"])
