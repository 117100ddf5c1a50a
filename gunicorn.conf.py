"""gunicorn hooks, loaded from the project root by default; without PROMETHEUS_MULTIPROC_DIR they do nothing.

Command-line options (workers, bind) stay with whoever starts gunicorn: docker-compose.yml, the bench, the tests.
"""

import os


def child_exit(server, worker):
    """A worker ended: drop its live gauges from the shared metrics directory (its counters stay, as they should)."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not directory:
        return
    # Imported here so that gunicorn without the directory never loads prometheus_client in the master.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, directory)
