#!/usr/bin/env python3
"""Echo clients side by side: messages per CPU-second of the generator, TCP and WebSocket.

The native testee (`cannonade-testee echo`, then `ws`) runs pinned to SERVER_CPU; each
generator runs pinned to GEN_CPU, closed loop, 64-byte messages, at 1 and 32
connections: the cannonade CLI under PyPy (one thread) beside plain Python clients
(bench/pyclients/): asyncio streams and an asyncio.Protocol under PyPy and asyncio
streams under CPython for TCP; Autobahn (Twisted) and, when installed, `websockets` under
PyPy for WebSocket. The tools alternate round by round (the order rotates), so that all
meet the same load on a shared machine. CPU = user + sys of the generator process (wait4
rusage), interpreter start-up included; the count of messages is each tool's own (the
CLI's --json result, the clients' JSON line). Figures are medians over the rounds; the
ratio is messages per CPU-second over the best Python client's, in the same run. Each
tool's fixed cost (the CLI with -n 1, a client with a duration of 0) is measured apart.

    python3 bench/echo_clients.py                      # 5 rounds x 5 s, both protocols: ~8 min
    python3 bench/echo_clients.py --quick              # 1 round x 1 s, checks the harness
    python3 bench/echo_clients.py --protocols ws --connections 32 --rounds 3

With --idle-memory it measures instead the generator's resident memory per idle
WebSocket connection: the CLI holds M idle connections (--idle M) to the testee's ws
mode beside 10 messages/s on one connection, for --idle-duration seconds (25); VmRSS of
the PyPy process is read from /proc at --sample-at seconds (20; the median of the samples
of the 2 s before), once its descriptors show that all M are open, and the result's
idle_connections says how many were. Levels alternate over the repeats; the figures, in
KiB per connection, are (RSS at the largest M - RSS at the smallest) / the difference in
M, medians over the repeats, and the least-squares slope of RSS over M from every run.
The harness raises its soft limit on open files to the hard limit first; a level that
does not fit under it (M plus 100 spare) is lowered to the largest hundred that does.

    python3 bench/echo_clients.py --idle-memory                 # 0, 10000, 20000 x 2: ~3 min
    python3 bench/echo_clients.py --idle-memory --idle-levels 0,5000 --idle-repeats 1

Needs .venv-pypy (and .venv-cpython for asyncio under CPython; `.ci/bootstrap`), the
testee (`cargo build --release -p cannonade-testee`) and taskset. Prints markdown; appends
nothing. Loopback only.
"""

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
CLIENTS = os.path.join(HERE, "pyclients")
TOOLS = {
    "tcp": ("cannonade", "asyncio", "asyncio-protocol", "asyncio-cpython"),
    "ws": ("cannonade", "autobahn", "websockets"),
}
TESTEE_MODE = {"tcp": "echo", "ws": "ws"}


def log(*words):
    print(*words, file=sys.stderr, flush=True)


def find(node, key):
    """The value of the first `key` in a depth-first walk of a JSON document."""
    if isinstance(node, dict):
        if key in node:
            return node[key]
        node = list(node.values())
    if isinstance(node, list):
        for child in node:
            found = find(child, key)
            if found is not None:
                return found
    return None


def version(cmd):
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[-1].strip() if out.returncode == 0 and text else "?"


def machine_busy():
    fields = open("/proc/stat").readline().split()
    return sum(int(fields[i]) for i in (1, 2, 3, 6, 7, 8))


def proc_cpu_ticks(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def proc_status(pid, key):
    """A field of /proc/PID/status in its units (kB for memory), or None."""
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def count_fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


class Testee:
    """The native testee in one mode, pinned to a core; stopped with SIGTERM."""

    def __init__(self, binary, mode, cpu):
        self.proc = subprocess.Popen(
            ["taskset", "-c", str(cpu), binary, mode, "--host", "127.0.0.1", "--port", "0"],
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline().strip()
        if not line.startswith("listening on "):
            self.proc.kill()
            raise RuntimeError(f"testee {mode}: {line!r}")
        self.host, port = line.split()[-1].rsplit(":", 1)
        self.port = int(port)
        self.pid = self.proc.pid  # taskset execs the testee: same pid

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


class Bench:
    def __init__(self, args, work):
        self.args = args
        self.work = work

    def available(self, proto, tool):
        """Why `tool` cannot run here, or None."""
        if tool == "asyncio-cpython":
            if not os.access(self.args.cpython, os.X_OK):
                return f"no {self.args.cpython}"
            return None
        if tool == "websockets":
            probe = subprocess.run(
                [self.args.pypy, "-c", "import websockets"], capture_output=True, text=True
            )
            return "websockets is not installed in .venv-pypy" if probe.returncode else None
        return None

    def command(self, proto, tool, host, port, conns, duration, out):
        a = self.args
        addr = f"{host}:{port}"
        if tool == "cannonade":
            common = ["-t", "1", "-c", str(conns), "-q", "--json", out]
            common += ["-d", f"{duration:g}s"] if duration else ["-n", "1"]
            if proto == "tcp":
                return [a.pypy, "-m", "cannonade", "tcp", addr, "--payload-bytes", "64", *common]
            return [a.pypy, "-m", "cannonade", "ws", f"ws://{addr}/", "--message-bytes", "64"] + (
                common
            )
        script, python, extra = {
            "asyncio": ("asyncio_tcp.py", a.pypy, []),
            "asyncio-protocol": ("asyncio_tcp.py", a.pypy, ["--protocol"]),
            "asyncio-cpython": ("asyncio_tcp.py", a.cpython, []),
            "autobahn": ("autobahn_ws.py", a.pypy, []),
            "websockets": ("websockets_ws.py", a.pypy, []),
        }[tool]
        return [
            python,
            os.path.join(CLIENTS, script),
            host,
            str(port),
            str(conns),
            f"{duration:g}",
            "--bytes",
            "64",
            *extra,
        ]

    def run_once(self, proto, tool, testee, conns, duration):
        out = os.path.join(self.work, f"{tool}.json")
        if os.path.exists(out):
            os.unlink(out)
        cmd = self.command(proto, tool, testee.host, testee.port, conns, duration, out)
        full = ["taskset", "-c", str(self.args.gen_cpu), *cmd]
        busy0, srv0, t0 = machine_busy(), proc_cpu_ticks(testee.pid), time.monotonic()
        so_path, se_path = os.path.join(self.work, "stdout"), os.path.join(self.work, "stderr")
        with open(so_path, "w") as so, open(se_path, "w") as se:
            proc = subprocess.Popen(full, stdout=so, stderr=se)
        bound = threading.Timer(duration + 60, proc.kill)  # every run bounded in time
        bound.start()
        _, status, ru = os.wait4(proc.pid, 0)
        bound.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.monotonic() - t0
        busy1, srv1 = machine_busy(), proc_cpu_ticks(testee.pid)
        stdout, stderr = open(so_path).read(), open(se_path).read()
        if proc.returncode != 0:
            raise RuntimeError(f"{shlex.join(full)} exited {proc.returncode}: {stderr[-2000:]}")
        if tool == "cannonade":
            r = json.load(open(out))
            errors = find(r, "errors")
            if isinstance(errors, dict) and sum(v for v in errors.values() if isinstance(v, int)):
                raise RuntimeError(f"{tool}: errors {errors}")
            n, measured = int(find(r, "requests")), find(r, "duration_ns") / 1e9
        else:
            r = json.loads(stdout.strip().splitlines()[-1])
            n, measured = r["messages"], r["duration_s"]
        return {
            "n": n,
            "measured_s": measured,
            "wall_s": wall,
            "busy": busy1 - busy0,
            "server": srv1 - srv0,
            "cmd": full,
            "user": ru.ru_utime,
            "sys": ru.ru_stime,
        }

    def measure(self, proto, tool, testee, conns, duration):
        """One run: its rate, and its CPU from the generator's rusage (wait4)."""
        r = self.run_once(proto, tool, testee, conns, duration)
        user, sys_ = r["user"], r["sys"]
        cpu = user + sys_
        n = r["n"]
        if duration and n <= 0:
            raise RuntimeError(f"{tool} completed no message")
        gen_ticks = cpu * 100
        other = max(0.0, (r["busy"] - gen_ticks - r["server"]) / 100) / r["wall_s"]
        return {
            "proto": proto,
            "tool": tool,
            "conns": conns,
            "messages": n,
            "rate": n / (r["measured_s"] or duration or 1),
            "cpu_s": cpu,
            "cpu_us": cpu / n * 1e6 if n else float("nan"),
            "per_cpu_s": n / cpu if cpu else float("nan"),
            "user_s": user,
            "sys_s": sys_,
            "server_cores": r["server"] / 100 / r["wall_s"],
            "other_cores": other,
            "wall_s": r["wall_s"],
            "cmd": r["cmd"],
        }


def machine_line(load_before, load_after):
    cpu_model = next(
        (
            line.split(":", 1)[1].strip()
            for line in open("/proc/cpuinfo")
            if line.startswith("model name")
        ),
        "?",
    )
    return (
        f"Machine: {os.cpu_count()} vCPU ({cpu_model}), Linux {platform.release()}; "
        f"load average {' '.join(load_before)} before, {' '.join(load_after)} after."
    )


def public(cmd, work):
    text = shlex.join(cmd).replace(work, "$WORK").replace(REPO + "/", "").replace(REPO, ".")
    return text


def echo_main(args, work):
    bench = Bench(args, work)
    protos = [p for p in args.protocols.split(",") if p]
    levels = [int(c) for c in args.connections.split(",")]
    wanted = set(args.tools.split(",")) if args.tools else None
    skipped = {}
    plan = {}
    for proto in protos:
        tools = []
        for tool in TOOLS[proto]:
            if wanted is not None and tool not in wanted:
                continue
            why = bench.available(proto, tool)
            if why:
                skipped[(proto, tool)] = why
                log(f"skipping {proto} {tool}: {why}")
            else:
                tools.append(tool)
        plan[proto] = tools
    load_before = open("/proc/loadavg").read().split()[:3]
    started = datetime.datetime.now(datetime.timezone.utc)
    runs, fixed = [], []
    for proto in protos:
        testee = Testee(args.testee, TESTEE_MODE[proto], args.server_cpu)
        try:
            tools = plan[proto]
            bench.measure(proto, tools[0], testee, levels[-1], 1)  # warm the testee
            for conns in levels:
                for rnd in range(args.rounds):
                    for i in range(len(tools)):
                        tool = tools[(i + rnd) % len(tools)]
                        r = bench.measure(proto, tool, testee, conns, args.duration)
                        r["round"] = rnd
                        runs.append(r)
                        log(
                            f"{proto} c={conns:<3} round {rnd + 1} {tool:<16} "
                            f"{r['rate']:9.0f} msg/s {r['cpu_us']:7.2f} us/msg "
                            f"{r['per_cpu_s']:9.0f} msg/CPU-s; testee "
                            f"{r['server_cores']:.2f} others {r['other_cores']:.2f} cores"
                        )
            for tool in tools:
                cpus = [bench.measure(proto, tool, testee, 1, 0)["cpu_s"] for _ in range(3)]
                fixed.append((proto, tool, statistics.median(cpus)))
                log(f"{proto} fixed cost {tool}: {statistics.median(cpus):.3f} CPU s")
        finally:
            testee.stop()
    load_after = open("/proc/loadavg").read().split()[:3]
    if args.raw:
        with open(args.raw, "w") as f:
            for r in runs:
                f.write(json.dumps({**r, "cmd": public(r["cmd"], work)}) + "\n")
    print(
        echo_report(
            args, plan, levels, runs, fixed, skipped, started, load_before, load_after, work
        )
    )


def echo_report(args, plan, levels, runs, fixed, skipped, started, before, after, work):
    med = statistics.median
    lines = [f"### Echo clients, {started:%Y-%m-%d %H:%M} UTC", ""]
    lines.append(
        machine_line(before, after)
        + f" Testee on cpu {args.server_cpu}, generator on cpu {args.gen_cpu}; 64-byte "
        f"messages, closed loop; {args.rounds} rounds x {args.duration:g} s per tool and "
        "level, the order rotated each round. CPU = user + sys of the generator process "
        "(rusage), its start-up included; medians over the rounds."
    )
    pypy_v = version(
        [args.pypy, "-c", "import sys; print('.'.join(map(str, sys.pypy_version_info[:3])))"]
    )
    vers = [
        f"PyPy {pypy_v} (Python "
        + version([args.pypy, "-c", "import sys; print(sys.version.split()[0])"])
        + ")",
        "cannonade "
        + version([args.pypy, "-c", "import cannonade; print(cannonade.__version__)"])
        + " ("
        + version(["git", "-C", REPO, "describe", "--always", "--dirty"])
        + ")",
    ]
    if any("asyncio-cpython" in t for t in plan.values()):
        vers.append(
            "CPython " + version([args.cpython, "-c", "import sys; print(sys.version.split()[0])"])
        )
    if "autobahn" in plan.get("ws", ()):
        vers.append(
            "autobahn " + version([args.pypy, "-c", "import autobahn; print(autobahn.__version__)"])
        )
        vers.append(
            "Twisted " + version([args.pypy, "-c", "import twisted; print(twisted.__version__)"])
        )
    if "websockets" in plan.get("ws", ()):
        vers.append(
            "websockets "
            + version([args.pypy, "-c", "import websockets; print(websockets.__version__)"])
        )
    lines += ["Versions: " + ", ".join(vers) + ".", ""]
    lines += [
        "| protocol | c | tool | messages/s | CPU µs/message | messages/CPU-s | vs best Python "
        "| testee cores | others cores |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for proto, tools in plan.items():
        for c in levels:
            cell = {}
            for tool in tools:
                rs = [
                    r for r in runs if r["proto"] == proto and r["tool"] == tool and r["conns"] == c
                ]
                cell[tool] = {
                    k: med(r[k] for r in rs)
                    for k in ("rate", "cpu_us", "per_cpu_s", "server_cores", "other_cores")
                }
            pythons = [t for t in tools if t != "cannonade"]
            best = max(pythons, key=lambda t: cell[t]["per_cpu_s"]) if pythons else None
            for tool in tools:
                v = cell[tool]
                ratio = f"{v['per_cpu_s'] / cell[best]['per_cpu_s']:.2f}x" if best else "-"
                if tool == best:
                    ratio += " (best)"
                lines.append(
                    f"| {proto} | {c} | {tool} | {v['rate']:,.0f} | {v['cpu_us']:.2f} | "
                    f"{v['per_cpu_s']:,.0f} | {ratio} | {v['server_cores']:.2f} | "
                    f"{v['other_cores']:.2f} |"
                )
    lines += [
        "",
        "Fixed cost of each tool (median of 3; the CLI with `-n 1`, a client with a "
        "duration of 0: start-up, connect, one message, exit), in CPU seconds:",
        "",
    ]
    lines.append("| protocol | tool | CPU s |")
    lines.append("|---|---|---|")
    for proto, tool, cpu in fixed:
        lines.append(f"| {proto} | {tool} | {cpu:.3f} |")
    if skipped:
        lines += [""] + [f"Skipped: {p} {t} ({why})." for (p, t), why in skipped.items()]
    lines += ["", f"Commands (c={levels[-1]}; -c and the duration vary):", ""]
    seen = set()
    for r in runs:
        if (r["proto"], r["tool"]) in seen or r["conns"] != levels[-1]:
            continue
        seen.add((r["proto"], r["tool"]))
        cmd = public(r["cmd"], work)
        lines.append(f"    {cmd}")
    argv = [a for a in sys.argv[1:] if a != args.raw and a != "--raw"]
    lines += [
        "",
        "Reproduce: `" + shlex.join(["python3", "bench/echo_clients.py", *argv]) + "`",
        "",
    ]
    return "\n".join(lines)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def slope(points):
    n = len(points)
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else float("nan")


def idle_main(args, work):
    soft, hard = raise_nofile()
    fit = (hard - 100) // 100 * 100
    notes = [
        f"Open-files limit: soft {soft}, hard {hard} (the harness raised the soft to the hard)."
    ]
    levels = []
    for m in (int(x) for x in args.idle_levels.split(",")):
        if m > fit:
            notes.append(
                f"{m} idle connections do not fit under the hard limit of {hard} open files "
                f"(each process, the generator and the testee, holds one socket per connection); "
                f"measured {fit} instead."
            )
            m = fit
        levels.append(m)
    order = []
    for rep in range(args.idle_repeats):
        order += levels if rep % 2 == 0 else list(reversed(levels))
    load_before = open("/proc/loadavg").read().split()[:3]
    started = datetime.datetime.now(datetime.timezone.utc)
    testee = Testee(args.testee, "ws", args.server_cpu)
    samples = []
    try:
        for m in order:
            out = os.path.join(work, "idle.json")
            if os.path.exists(out):
                os.unlink(out)
            cmd = [
                args.pypy,
                "-m",
                "cannonade",
                "ws",
                f"ws://{testee.host}:{testee.port}/",
                "--message-bytes",
                "64",
                "-t",
                "1",
                "-c",
                "1",
                "-R",
                "10",
                "-d",
                f"{args.idle_duration:g}s",
                "--idle",
                str(m),
                "-q",
                "--json",
                out,
            ]
            full = ["taskset", "-c", str(args.gen_cpu), *cmd]
            t0 = time.monotonic()
            proc = subprocess.Popen(
                full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
            )
            series = []
            while proc.poll() is None:
                t = time.monotonic() - t0
                rss, fds = proc_status(proc.pid, "VmRSS"), count_fds(proc.pid)
                if rss is not None:
                    series.append((t, rss, fds, proc_status(testee.pid, "VmRSS")))
                if t > args.idle_duration + 60:
                    proc.kill()
                time.sleep(0.25)
            err = proc.stderr.read()
            if proc.returncode != 0:
                raise RuntimeError(f"{shlex.join(full)} exited {proc.returncode}: {err[-2000:]}")
            r = json.load(open(out))
            idle_counts = find(r, "idle_connections") or {}
            opened = f"{idle_counts.get('opened', 0):,} / {idle_counts.get('held', 0):,}"
            window = [s for s in series if args.sample_at - 2 <= s[0] <= args.sample_at]
            if not window:
                raise RuntimeError(f"no sample near {args.sample_at} s; run longer")
            all_open = min(s[2] or 0 for s in window) >= m
            first_open = next((s[0] for s in series if (s[2] or 0) >= m + 1), None) if m else None
            rss = statistics.median(s[1] for s in window)
            srv = statistics.median(s[3] for s in window if s[3] is not None)
            samples.append(
                {
                    "idle": m,
                    "opened": opened,
                    "rss_kib": rss,
                    "testee_kib": srv,
                    "all_open": all_open,
                    "open_at_s": first_open,
                    "fds": window[-1][2],
                    "requests": find(r, "requests"),
                    "errors": find(r, "errors"),
                    "cmd": full,
                }
            )
            log(
                f"idle {m}: opened / held {opened}, all open by {first_open} s: generator RSS "
                f"{rss:,.0f} KiB at {args.sample_at:g} s ({window[-1][2]} fds), testee "
                f"{srv:,.0f} KiB"
            )
    finally:
        testee.stop()
    load_after = open("/proc/loadavg").read().split()[:3]
    med = statistics.median
    lines = [f"### Idle WebSocket memory, {started:%Y-%m-%d %H:%M} UTC", ""]
    lines.append(
        machine_line(load_before, load_after)
        + f" The CLI under PyPy on cpu {args.gen_cpu} (one thread), the testee's ws mode on "
        f"cpu {args.server_cpu}; 10 messages/s on 1 connection beside the idle ones, "
        f"{args.idle_duration:g} s per run; VmRSS is the median of the samples (every 0.25 s) "
        f"from {args.sample_at - 2:g} to {args.sample_at:g} s."
    )
    lines += [""] + notes + [""]
    lines += [
        "| idle asked | opened / held (result) | all open at | generator VmRSS KiB "
        "| testee VmRSS KiB |",
        "|---|---|---|---|---|",
    ]
    for s in samples:
        at = f"{s['open_at_s']:.1f} s" if s["open_at_s"] is not None else "-"
        lines.append(
            f"| {s['idle']:,} | {s['opened']} | {at} | {s['rss_kib']:,.0f} | "
            f"{s['testee_kib']:,.0f} |"
        )
    by = {m: med(s["rss_kib"] for s in samples if s["idle"] == m) for m in levels}
    srv = {m: med(s["testee_kib"] for s in samples if s["idle"] == m) for m in levels}
    lo, hi = min(levels), max(levels)
    pts = [(s["idle"], s["rss_kib"]) for s in samples]
    spts = [(s["idle"], s["testee_kib"]) for s in samples]
    lines += [
        "",
        f"Generator: (RSS at {hi:,} - RSS at {lo:,}) / {hi - lo:,} = "
        f"{(by[hi] - by[lo]) / (hi - lo):.2f} KiB per idle connection (medians over the "
        f"repeats); least squares over all runs {slope(pts):.2f} KiB. Testee: "
        f"{(srv[hi] - srv[lo]) / (hi - lo):.2f} KiB per connection (least squares "
        f"{slope(spts):.2f}).",
        "",
        "Command (M varies):",
        "",
        "    " + public(samples[-1]["cmd"], work).replace(str(testee.port), "PORT"),
        "",
        "Reproduce: `" + shlex.join(["python3", "bench/echo_clients.py", *sys.argv[1:]]) + "`",
        "",
    ]
    print("\n".join(lines))


def main():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--quick", action="store_true", help="1 round of 1 s: checks the harness")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per run (5)")
    p.add_argument("--connections", default="1,32", help="levels (1,32)")
    p.add_argument("--protocols", default="tcp,ws", help="tcp,ws")
    p.add_argument(
        "--tools",
        help="only these, comma-separated, from "
        + "; ".join(f"{k}: {','.join(v)}" for k, v in TOOLS.items()),
    )
    p.add_argument("--gen-cpu", type=int, default=0)
    p.add_argument("--server-cpu", type=int, default=1)
    p.add_argument(
        "--pypy",
        default=os.path.join(REPO, ".venv-pypy", "bin", "python"),
        help="PyPy with cannonade, Twisted and Autobahn (.venv-pypy/bin/python)",
    )
    p.add_argument(
        "--cpython",
        default=os.path.join(REPO, ".venv-cpython", "bin", "python"),
        help="CPython for asyncio-cpython (.venv-cpython/bin/python)",
    )
    p.add_argument(
        "--testee",
        default=os.path.join(
            os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target")),
            "release",
            "cannonade-testee",
        ),
        help="the native testee (target/release/cannonade-testee)",
    )
    p.add_argument("--raw", help="also write every run as JSON lines to this file")
    idle = p.add_argument_group("idle WebSocket memory")
    idle.add_argument("--idle-memory", action="store_true", help="measure that instead")
    idle.add_argument(
        "--idle-levels", default="0,10000,20000", help="idle connections (0,10000,20000)"
    )
    idle.add_argument("--idle-repeats", type=int, default=2, help="passes over the levels (2)")
    idle.add_argument("--idle-duration", type=float, default=25.0, help="seconds per run (25)")
    idle.add_argument("--sample-at", type=float, default=20.0, help="read RSS at (20 s)")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 1.0
    for path, what in (
        (args.pypy, "run .ci/bootstrap, or give --pypy"),
        (args.testee, "cargo build --release -p cannonade-testee"),
    ):
        if not os.access(path, os.X_OK):
            p.error(f"no {path}: {what}")
    work = tempfile.mkdtemp(prefix="cannonade-echo-")
    try:
        (idle_main if args.idle_memory else echo_main)(args, work)
    finally:
        subprocess.run(["rm", "-rf", work])


if __name__ == "__main__":
    main()
