"""The users suite's clock and row fixtures, shared with the operability tests."""

from users.tests.conftest import clock, row, set_presence  # noqa: F401
