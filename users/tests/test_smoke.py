"""Login marks the user online, as the database row shows."""
import pytest

from users.models import User


@pytest.mark.django_db
def test_login_marks_user_online_in_the_users_table(user, login):
    body = login(user)
    row = User.objects.get(pk=user.pk)
    assert row.online_status == "online"
    assert body["user"]["online_status"] == "online"
