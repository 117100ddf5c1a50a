"""The user row's statements (users/presence/user_writes.py): PostgreSQL's precompiled ones and the ORM's."""

import pytest

from users.presence import user_writes
from users.tests.presence.conftest import OTHERS, STARTS

pytestmark = pytest.mark.django_db

WRITES = {
    "online": lambda user_id, sid, at: user_writes.write_online(user_id, at),
    "offline": lambda user_id, sid, at: user_writes.write_offline(user_id, at),
    "touch, active session": lambda user_id, sid, at: user_writes.touch_user(user_id, at, active=True),
    "touch, idle session": lambda user_id, sid, at: user_writes.touch_user(user_id, at, active=False),
}
SENT = {
    "online": ["USER_ONLINE"],
    "offline": ["USER_OFFLINE"],
    "touch, active session": ["USER_TOUCH[True]"],
    "touch, idle session": ["USER_TOUCH[False]"],
}


@pytest.mark.parametrize("invisible", [False, True], ids=["visible", "invisible"])
@pytest.mark.parametrize("start", list(STARTS), ids=list(STARTS))
@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_each_precompiled_write_leaves_the_row_its_orm_form_leaves(on_postgres, same_as_orm, write, start, invisible):
    same_as_orm(WRITES[write], STARTS[start], invisible, OTHERS["one device"])


@pytest.mark.parametrize("write", list(WRITES), ids=list(WRITES))
def test_each_write_on_postgresql_is_one_precompiled_statement(on_postgres, twin, clock, statements, write):
    first, second = twin(STARTS["swept offline"], False), twin(STARTS["settled online"], True)
    clock.advance(60)  # past the touch interval: the touches write

    written, names, texts = statements(lambda: WRITES[write](*first, clock.current))
    _, _, again = statements(lambda: WRITES[write](*second, clock.current))

    assert written and names == SENT[write]
    assert all(a is b for a, b in zip(texts, again, strict=True)), "built once, not per call"
