"""The schema suite's fixtures: the live server of tests/live, for the generated client."""

from tests.live.conftest import (  # noqa: F401  (the live suite's fixtures, shared)
    live_api,
    live_env,
    pytest_runtest_makereport,
    start_process,
)
