"""The outputs of a run: the printed table, docs/benchmarks/latest.json, docs/BENCHMARKS.md and the plot."""

import json
from pathlib import Path

from bench import notes, organisation_notes

STATUS_TARGET_MS = 3
TARGETS = {
    "heartbeat": "heartbeat throughput >= 0.9x GET /me/",
    "writes": "<= 1 UPDATE per user per touch window",
    "list": "10k users: p50 < 100 ms and >= 3x faster than the ModelSerializer list",
    "sweep": "1M users: <= 150 ms and <= 1.5x the raw UPDATE; index used, no seq scan",
    "feed": "100k users, 100 changes: a feed poll < 5% of the full list (p50 and bytes); no seq scan",
    "push": "1,000 viewer sockets: a change reaches all of them, p99 <= 1 s, none missed",
    "held": "10,000 idle sockets on one process: < 100 KiB RSS per socket, < 10% of one core",
    "closed_tab": "a closed socket's user is pushed offline within grace + 1 s",
    "status": f"<= {STATUS_TARGET_MS} ms of server CPU per status change (socket `state` message, one daphne)",
    **organisation_notes.TARGETS,
}
HELD_TARGET_SOCKETS = 9_900  # 10,000 asked; the run tolerates 1% failed opens
FEED_TARGET_USERS = 100_000
FEED_TARGET_RATIO = 0.05


def verdicts(r: dict) -> dict:
    """Whether each target holds in this run (None when the run did not measure it)."""
    hb = wa = li = sw = plans_ok = fe = None
    if "heartbeat" in r:
        hb = r["heartbeat"]["ratio_heartbeat_to_me_rps"] >= 0.9
    if "write_amplification" in r:
        wa = r["write_amplification"]["ours"]["updates_per_user_per_window"] <= 1
    ten_k = next((row for row in r.get("all_users", []) if row["users"] == 10_000), None)
    if ten_k is not None:
        li = ten_k["ours"]["p50_ms"] < 100 and ten_k["ratio_baseline_to_ours_p50"] >= 3
    if "sweep" in r:
        one_m = next((row for row in r["sweep"] if row["users"] == 1_000_000), None)
        plans_ok = all(
            row["explain"]["uses_sweep_index"] and not row["explain"]["seq_scan_on_users"] for row in r["sweep"]
        )
        sw = (
            None
            if one_m is None
            else (one_m["ours"]["p50_ms"] <= 150 and one_m["ratio_ours_to_raw_update"] <= 1.5 and plans_ok)
        )
    f = r.get("feed")
    if f is not None and f["users"] == FEED_TARGET_USERS:
        fe = (
            f["ratio_feed_to_full_p50"] < FEED_TARGET_RATIO
            and f["ratio_feed_to_full_bytes"] < FEED_TARGET_RATIO
            and not f["explain"]["seq_scan_on_users"]
        )
    push = held = closed = None
    rt = r.get("realtime")
    if rt is not None:
        push = rt["push"]["p99_ms"] <= 1000 and rt["push"]["missed"] == 0 if rt["push"]["viewers"] >= 990 else None
        h = rt["held"]
        held = h["kib_per_socket"] < 100 and h["idle_cpu_percent"] < 10 if h["sockets"] >= HELD_TARGET_SOCKETS else None
        c = rt["closed_tab"]
        closed = c["max_s"] <= c["grace_seconds"] + 1
    sc = r.get("status_changes")
    status = None if sc is None else sc["socket"]["change"]["cpu_ms_per_write"] <= STATUS_TARGET_MS
    return {
        "heartbeat": hb,
        "writes": wa,
        "list": li,
        "sweep": sw,
        "sweep_plans": plans_ok,
        "feed": fe,
        "push": push,
        "held": held,
        "closed_tab": closed,
        "status": status,
        **organisation_notes.verdicts(r.get("organisation")),
    }


def _mark(ok) -> str:
    return "n/a (not in this run)" if ok is None else ("holds" if ok else "MISSED")


def table(r: dict) -> str:
    """A plain-text table of every figure with its baseline and ratio (the sections this run measured)."""
    lines = [
        f"offchat bench ({r['mode']}, {r['seconds']} s, load at end {r['machine']['load_average_at_end'][0]:.2f})",
        "",
    ]
    if "heartbeat" in r:
        hb = r["heartbeat"]
        lines.append(f"{'path':<34}{'rps':>10}{'p50 ms':>10}{'p99 ms':>10}")
        for name, label in (
            ("ping", "GET /bench/ping/ (no auth)"),
            ("me", "GET /api/users/me/"),
            ("heartbeat", "POST /api/users/heartbeat/"),
        ):
            lines.append(f"{label:<34}{hb[name]['rps']:>10}{hb[name]['p50_ms']:>10}{hb[name]['p99_ms']:>10}")
        lines += [
            f"heartbeat / me throughput: {hb['ratio_heartbeat_to_me_rps']}x   me / ping: {hb['ratio_me_to_ping_rps']}x",
            "",
        ]
    if "write_amplification" in r:
        wa = r["write_amplification"]
        lines.append(f"writes for {wa['users']} users, {wa['seconds']} s of GET /me/ (one touch window):")
        for name in ("ours", "naive"):
            w = wa[name]
            lines.append(
                f"  {name:<6} {w['requests']:>7} requests -> {w['updates']:>7} UPDATEs "
                f"({w['updates_per_user_per_window']} per user per window)"
            )
        lines += [f"  naive / ours: {wa['ratio_naive_to_ours_updates']}x", ""]
    if "all_users" in r:
        lines.append(
            f"{'all-users (staff)':<18}{'ours p50':>10}{'p99':>9}{'base p50':>10}{'p99':>9}{'ratio':>8}{'bytes':>11}"
        )
        for row in r["all_users"]:
            lines.append(
                f"{row['users']:<18}{row['ours']['p50_ms']:>10}{row['ours']['p99_ms']:>9}"
                f"{row['baseline']['p50_ms']:>10}{row['baseline']['p99_ms']:>9}"
                f"{row['ratio_baseline_to_ours_p50']:>8}{row['ours']['bytes']:>11}"
            )
        lines.append("")
    if "feed" in r:
        f = r["feed"]
        lines.append(f"feed (staff), {f['users']} users, {f['changes']} changes, poll carried {f['feed_users']}:")
        lines.append(f"  {'':<32}{'p50 ms':>10}{'p99 ms':>10}{'bytes':>11}")
        for name, label in (
            ("full_list", "GET /api/users/all-users/"),
            ("feed", "GET /api/users/presence/?since="),
            ("me", "GET /api/users/me/ (floor)"),
        ):
            lines.append(f"  {label:<32}{f[name]['p50_ms']:>10}{f[name]['p99_ms']:>10}{f[name]['bytes']:>11}")
        lines += [
            f"  feed / full: {f['ratio_feed_to_full_p50']:.2%} of the p50, {f['ratio_feed_to_full_bytes']:.2%} of the bytes; "
            f"{f['ratio_feed_to_me_p50']}x /me/;",
            f"  change index {f['explain']['uses_change_index']}, seq scan {f['explain']['seq_scan_on_users']}",
            "",
        ]
    if "sweep" in r:
        lines.append(
            f"{'sweep':<10}{'stale':>7}{'ours p50':>10}{'raw p50':>9}{'ours/raw':>9}{'db cpu':>16}"
            f"{'naive p50':>11}{'index':>7}{'seqscan':>8}"
        )
        for row in r["sweep"]:
            naive = row.get("naive", {}).get("p50_ms", "-")
            lines.append(
                f"{row['users']:<10}{row['stale']:>7}{row['ours']['p50_ms']:>10}{row['raw_update']['p50_ms']:>9}"
                f"{row['ratio_ours_to_raw_update']:>9}"
                f"{str(row['ours']['db_cpu_p50_ms']) + '/' + str(row['raw_update']['db_cpu_p50_ms']):>16}{naive:>11}{str(row['explain']['uses_sweep_index']):>7}"
                f"{str(row['explain']['seq_scan_on_users']):>8}"
            )
        lines.append("")
    if "realtime" in r:
        lines += realtime_table(r["realtime"])
    if "organisation" in r:
        lines += organisation_table(r["organisation"])
    if "status_changes" in r:
        lines += status_table(r["status_changes"])
    if "memory" in r:
        m = r["memory"]
        lines += [
            f"peak RSS: gunicorn worker {m['gunicorn_worker']['max_mib']} MiB, "
            f"celery worker {m['celery_worker']['max_mib']} MiB",
            "",
        ]
    for key, ok in verdicts(r).items():
        if key in TARGETS:
            lines.append(f"target {key:<10} {_mark(ok):<8} {TARGETS[key]}")
    return "\n".join(lines)


def organisation_table(org: dict) -> list[str]:
    """(8) One line per run: scoped watch lists against everyone-to-everyone."""
    lines = [f"organisation: {org['sizes']}"]
    for name in ("scoped", "everyone"):
        run = org[name]
        c = run["churn"]
        lines.append(
            f"  {name:<9} open {run['open_seconds']} s ({run['open_cpu_ms_per_socket']} ms CPU/socket, "
            f"{run['failures']} failed), push p50/p99 {c['p50_ms']}/{c['p99_ms']} ms, missed {c['missed']}/"
            f"{c['deliveries_expected']}, CPU {run['churn_cpu_percent']}% flowing / {run['idle_cpu_percent']}% idle, "
            f"{run['cpu_ms_per_change']} ms/change, {run['regular_bytes_per_second_mean']} B/s a socket, first "
            f"{run['first_answer_bytes_p50']} B, {run['kib_per_socket']} KiB/socket, foreign {run['foreign_entries']}"
        )
    return lines + [""]


def realtime_table(rt: dict) -> list[str]:
    """The socket figures, each beside what HTTP heartbeats and polling cost in the same run."""
    p, po, c, h, http = rt["push"], rt["polling"], rt["closed_tab"], rt["held"], rt["http_heartbeats_same_users"]
    lines = [
        f"realtime: push to {p['viewers']} viewer sockets, {p['changes']} changes: p50 {p['p50_ms']} ms, "
        f"p99 {p['p99_ms']} ms, missed {p['missed']}",
        f"  polling every {po['refresh_seconds']} s ({po['how'].split(':')[0]}): p50 {po['p50_ms']} ms, "
        f"p99 {po['p99_ms']} ms (poll p50 {po['poll_p50_ms']} ms)",
        f"  closed tab (grace {c['grace_seconds']} s): offline pushed after {c['max_s']} s at most, "
        f"polling {c['polling_range_s'][0]}-{c['polling_range_s'][1]} s",
        f"  held {h['sockets']} sockets: {h['kib_per_socket']} KiB each, RSS {h['rss_mib']} MiB, idle CPU "
        f"{h['idle_cpu_percent']}% of a core, {h['statements_per_minute']} statements/min, "
        f"{h['transactions_per_minute']} transactions/min; opened {h['opens_per_second']}/s",
        f"  same users heartbeating over HTTP every {http['heartbeat_seconds']} s (gunicorn sync): "
        f"{http['cpu_percent']}% of a core, {http['transactions_per_minute']} transactions/min",
        f"  {'server':<18}{'KiB/socket':>11}{'hb rps':>9}{'hb CPU ms':>11}{'xact/hb':>9}",
    ]
    memory, heartbeat = rt["servers"]["held_sockets"], rt["servers"]["heartbeat"]
    for name in ("daphne", "gunicorn_uvicorn", "gunicorn_sync"):
        kib = memory.get(name, {}).get("kib_per_socket", "-")
        hb = heartbeat[name]
        lines.append(
            f"  {name:<18}{kib:>11}{hb['rps']:>9}{hb['cpu_ms_per_heartbeat']:>11}{hb['transactions_per_heartbeat']:>9}"
        )
    return [*lines, ""]


def status_table(sc: dict) -> list[str]:
    """Status changes against the settled heartbeat, per transport, and each write's cost in-process."""
    lines = [
        f"status changes on one daphne ({sc['users']} users): server CPU per write, change against settled heartbeat",
        f"  {'':<36}{'writes':>8}{'CPU ms':>9}{'per core-s':>12}{'CPU %':>8}{'ratio':>8}",
    ]
    for transport, label in (("http", "HTTP POST heartbeat"), ("socket", "socket state message")):
        for kind in ("settled", "change"):
            row = sc[transport][kind]
            name = f"{label}, {'settled' if kind == 'settled' else 'idle<->active'}"
            mark = f"{sc[transport]['ratio_change_to_settled_cpu']}x" if kind == "change" else "1"
            lines.append(
                f"  {name:<36}{row['writes']:>8}{row['cpu_ms_per_write']:>9}{row['writes_per_core_second']:>12}"
                f"{row['cpu_percent']:>8}{mark:>8}"
            )
    costs = ", ".join(f"{name} {ms}" for name, ms in sc["in_process_cpu_ms"].items())
    return [*lines, f"  in-process CPU ms per write ({sc['in_process_calls']} each): {costs}", ""]


def plot_realtime(rt: dict, path: Path) -> None:
    """Push latency CDF, socket vs polling (log x); and the closed tab, socket vs polling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [2, 1]})
    for samples, label in (
        (rt["push"]["samples_ms"], f"socket push ({rt['push']['viewers']} viewers, measured)"),
        (rt["polling"]["samples_ms"], f"polling every {rt['polling']['refresh_seconds']} s (derived)"),
    ):
        ordered = sorted(max(x, 1.0) for x in samples)  # a push read before the HTTP response: shown at 1 ms
        left.plot(ordered, [(i + 1) / len(ordered) for i in range(len(ordered))], label=label)
    left.axvline(1000, color="grey", linestyle=":", label="target p99 1 s")
    left.set_xscale("log")
    left.set_xlabel("ms from the change's HTTP response to the viewer seeing it")
    left.set_ylabel("share of viewers")
    left.set_title("push latency, cumulative")
    c = rt["closed_tab"]
    socket_times = [row["max_s"] for row in c["each"] if row["max_s"] is not None]
    right.bar(["socket\n(measured)", "polling\n(timeout + sweep)"], [max(socket_times), c["polling_range_s"][1]])
    right.bar(["polling\n(timeout + sweep)"], [c["polling_range_s"][0]], color="tab:orange", alpha=0.6)
    right.axhline(
        c["grace_seconds"] + 1, color="grey", linestyle=":", label=f"grace + 1 s ({c['grace_seconds'] + 1} s)"
    )
    right.set_yscale("log")
    right.set_ylabel("s until viewers see the user offline")
    right.set_title("closed tab")
    for ax in (left, right):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("offchat presence socket vs polling")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(r: dict, path: Path) -> None:
    """Cost against number of users: the list and the sweep, ours and baselines, log-log."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    sizes = [row["users"] for row in r["all_users"]]
    left.plot(sizes, [row["ours"]["p50_ms"] for row in r["all_users"]], "o-", label="all-users (ours)")
    left.plot(sizes, [row["baseline"]["p50_ms"] for row in r["all_users"]], "s--", label="ModelSerializer list")
    f = r["feed"]
    left.plot([f["users"]], [f["feed"]["p50_ms"]], "D", label=f"feed poll, {f['changes']} changes")
    left.set_title("staff reads: all-users list, feed poll (p50, server time)")
    sizes = [row["users"] for row in r["sweep"]]
    right.plot(sizes, [row["ours"]["p50_ms"] for row in r["sweep"]], "o-", label="check_and_mark_offline_users()")
    right.plot(sizes, [row["raw_update"]["p50_ms"] for row in r["sweep"]], "^:", label="raw UPDATE (floor)")
    naive = [row for row in r["sweep"] if "naive" in row]
    right.plot([row["users"] for row in naive], [row["naive"]["p50_ms"] for row in naive], "s--", label="loop and save")
    right.set_title("sweep, 10% online, 1% stale (p50)")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("users in the table")
        ax.set_ylabel("ms")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle(f"offchat presence cost vs users ({r['mode']} run, {r['machine']['cpus']} cores)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_json(r: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    r["targets"] = {key: {"target": TARGETS.get(key), "holds": ok} for key, ok in verdicts(r).items()}
    path.write_text(json.dumps(r, indent=2, default=str) + "\n")


def write(r: dict, out: Path) -> None:
    """Write latest.json, the plot and BENCHMARKS.md under `out`."""
    _write_json(r, out / "benchmarks" / "latest.json")
    plot(r, out / "benchmarks" / "cost_vs_users.png")
    plot_realtime(r["realtime"], out / "benchmarks" / "realtime.png")
    organisation_notes.plot(r["organisation"], out / "benchmarks" / "organisation.png")
    (out / "BENCHMARKS.md").write_text(notes.markdown(r))


def write_partial(r: dict, out: Path) -> None:
    """A partial run (`--only`) writes benchmarks/only.json under `out`, never the report or latest.json."""
    _write_json(r, out / "benchmarks" / "only.json")
