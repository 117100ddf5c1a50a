"""The soak's load (locust): users heartbeating at the compressed interval, some leaving and rejoining, admins polling.

Every admin poll is checked against what the users know about themselves: a user whose last heartbeat
(or login) was answered within the timeout, minus a margin, and who has not started to log out, must
read online. Each such user read offline is counted as "wrongly offline" (and as a locust failure).
"""

import json
import os
import random
import time
from pathlib import Path

from locust import FastHttpUser, between, constant, events, task

HEARTBEAT = float(os.environ["PRESENCE_HEARTBEAT_SECONDS"])
TIMEOUT = float(os.environ["PRESENCE_TIMEOUT_SECONDS"])
REFRESH = float(os.environ["PRESENCE_REFRESH_SECONDS"])
LEAVE_PROBABILITY = float(os.environ.get("SOAK_LEAVE_PROBABILITY", "0.004"))
PASSWORD = os.environ["SOAK_PASSWORD"]
MARGIN = 2.0  # seconds: request latency and clock reads on both sides
SESSIONS = json.loads(Path(os.environ["SOAK_TOKENS"]).read_text())
USERS = sorted(name for name in SESSIONS if name.startswith("soak-user-"))
ADMINS = sorted(name for name in SESSIONS if name.startswith("soak-admin-"))

# username -> {"acked": when the last answered heartbeat/login was sent, "answered": when its answer came,
#              "leaving": bool}. The server wrote last_seen between the two.
known: dict[str, dict] = {}
tally = {"wrongly_offline": 0, "polls": 0, "checked": 0, "leaves": 0, "joins": 0}
_next_user = iter(USERS)
_next_admin = iter(ADMINS)


class PresenceUser(FastHttpUser):
    """One browser tab: heartbeats every PRESENCE_HEARTBEAT_SECONDS; now and then logs out and back in."""

    weight = 100
    wait_time = constant(HEARTBEAT)

    def on_start(self):
        self.username = next(_next_user)
        self.tokens = SESSIONS[self.username]
        # Nothing is promised about this user until the server has answered one of its heartbeats.
        known[self.username] = {"acked": None, "answered": None, "leaving": False}
        time.sleep(random.uniform(0, HEARTBEAT))  # spread the heartbeats over the interval

    def _auth(self):
        return {"Authorization": f"Bearer {self.tokens['access']}"}

    @task
    def heartbeat(self):
        if random.random() < LEAVE_PROBABILITY:
            return self.leave_and_rejoin()
        sent = time.monotonic()
        with self.client.post(
            "/api/users/heartbeat/", headers=self._auth(), name="heartbeat", catch_response=True
        ) as r:
            if r.status_code == 200:
                known[self.username].update(acked=sent, answered=time.monotonic())
                r.success()
            else:
                r.failure(f"heartbeat {r.status_code}")

    def leave_and_rejoin(self):
        known[self.username]["leaving"] = True
        tally["leaves"] += 1
        self.client.post(
            "/api/users/logout/", json={"refresh": self.tokens["refresh"]}, headers=self._auth(), name="logout"
        )
        time.sleep(random.uniform(1, 3))
        sent = time.monotonic()
        with self.client.post(
            "/api/users/login/",
            json={"username": self.username, "password": PASSWORD},
            name="login",
            catch_response=True,
        ) as r:
            if r.status_code == 200:
                body = r.json()
                self.tokens = {"access": body["access"], "refresh": body["refresh"]}
                known[self.username] = {"acked": sent, "answered": time.monotonic(), "leaving": False}
                tally["joins"] += 1
                r.success()
            else:
                r.failure(f"login {r.status_code}")


class AdminPoller(FastHttpUser):
    """The admin panel: polls all-users every PRESENCE_REFRESH_SECONDS and checks it against the users."""

    fixed_count = 5
    wait_time = between(REFRESH * 0.9, REFRESH * 1.1)

    def on_start(self):
        self.tokens = SESSIONS[next(_next_admin)]

    @task
    def poll(self):
        sent = time.monotonic()
        with self.client.get(
            "/api/users/all-users/",
            headers={"Authorization": f"Bearer {self.tokens['access']}"},
            name="all-users",
            catch_response=True,
        ) as r:
            if r.status_code != 200:
                r.failure(f"all-users {r.status_code}")
                return
            answered = time.monotonic()
            wrong = []
            for row in r.json():
                state = known.get(row["username"])
                if state is None or state["leaving"] or state["acked"] is None:
                    continue
                # Must be online: its heartbeat was answered before we asked (so the server had written it),
                # and sent recently enough that it cannot have timed out by the time we got our answer.
                if state["answered"] <= sent and answered - state["acked"] < TIMEOUT - MARGIN:
                    tally["checked"] += 1
                    if row["online_status"] != "online":
                        wrong.append(row["username"])
            tally["polls"] += 1
            if wrong:
                tally["wrongly_offline"] += len(wrong)
                r.failure(f"{len(wrong)} live users shown offline, e.g. {wrong[:3]}")
            else:
                r.success()


@events.quitting.add_listener
def write_report(environment, **kwargs):
    total = environment.stats.total
    report = {
        "requests": total.num_requests,
        "errors": total.num_failures,
        "p50_ms": total.get_response_time_percentile(0.50),
        "p99_ms": total.get_response_time_percentile(0.99),
        "max_ms": total.max_response_time,
        "rps": round(total.total_rps, 1),
        "by_endpoint": {
            name: {"requests": s.num_requests, "errors": s.num_failures, "p99_ms": s.get_response_time_percentile(0.99)}
            for (name, _method), s in environment.stats.entries.items()
        },
        **tally,
    }
    with open(os.environ["SOAK_REPORT"], "w") as out:
        json.dump(report, out, indent=2)
