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
