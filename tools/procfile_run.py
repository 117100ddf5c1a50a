"""`make run`'s process manager: honcho, with time for the Celery worker's warm shutdown before a SIGKILL."""

import sys

import honcho.command
import honcho.manager

# honcho SIGKILLs whatever still runs 5 s after Ctrl-C (a module constant, no option). A worker on the embedded
# (filesystem) broker needs up to about 6 s: its blocking loop drains the broker for 2 s, twice, before it acts on
# the shutdown, then stops its timer and beat. A SIGKILL there loses the task in hand and beat's last write.
honcho.manager.KILL_WAIT = 20

if __name__ == "__main__":
    sys.exit(honcho.command.main())
