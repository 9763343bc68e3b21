#!/usr/bin/env python3
"""WebDAV benchmark: peex with the WebDAV transport plugin (plugins/examples/transport) vs
rclone's own WebDAV backend, both pushing the same tree to the same `rclone serve webdav`,
on loopback (mode lo) or behind the benchmark's latency link (mode ns, the server inside
the network namespace).

Phases per tool and run (runs interleaved across tools, each from a fresh copy of the tree
and an empty /dst): (a) initial upload, (b) no-op re-sync, (c) re-sync after the seeded
change of bench/peexbench/tree.py (modify 2%, delete 1%, add 1%). After every phase the
served /dst is compared with the source: names, sizes and bytes. Modification times are not
compared: `rclone serve webdav` cannot have them set (it ignores X-OC-Mtime and PROPPATCH),
so peex runs with `srcutime` (the local files take the server's times) and rclone compares
sizes only — which is why rclone misses same-size changes in (c) (the report counts them).

  flock /tmp/peex-bench.lock python3 bench/webdav.py --mode lo --runs 3
  flock /tmp/peex-bench.lock python3 bench/webdav.py --mode ns --rtt 20 --runs 3

Writes bench/results/<date>-webdav-<mode>.md (+ .json)."""
import argparse
import datetime
import json
import os
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from peexbench import sysinfo, tree, verify  # noqa: E402
from peexbench.link import NS, NS_ADDR, LatencyLink  # noqa: E402
from peexbench.tools import measure  # noqa: E402

PHASES = ("initial", "noop", "change")


def log(msg):
    print(f"[webdav-bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mode", choices=("lo", "ns"), default="lo")
    ap.add_argument("--rtt", type=float, default=20.0, metavar="MS")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--dirs", type=int, default=150)
    ap.add_argument("--big", type=int, default=2)
    ap.add_argument("--big-mib", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--change", type=float, default=2.0)
    ap.add_argument("--conns", type=int, default=8,
                    help="peex -j and rclone --transfers/--checkers (default 8)")
    ap.add_argument("--parallel", type=int, default=4,
                    help="the plugin's requests in flight per peex connection (default 4)")
    ap.add_argument("--rclone-transfers", default="",
                    help="extra rclone variants: comma-separated --transfers values (e.g. 32)")
    ap.add_argument("--peex-only", action="store_true", help="do not run rclone")
    ap.add_argument("--peex-bin", default=os.path.join(REPO, "target", "release", "peex"))
    ap.add_argument("--plugin", default=os.path.join(REPO, "target", "release",
                                                     "libpeex_example_transport.so"))
    ap.add_argument("--timeout", type=int, default=900)
    ap.add_argument("--tag", default="")
    return ap.parse_args(argv)


def reset_dir(path):
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.makedirs(path)


def settle(src):
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass
    for root, _d, files in os.walk(src):
        for n in files:
            with open(os.path.join(root, n), "rb") as f:
                while f.read(1 << 20):
                    pass


def verify_no_mtime(src, dst):
    v = verify.compare_trees(src, dst)
    v["ok"] = not any(v[k] for k in ("missing", "extra", "dirs_missing", "dirs_extra",
                                      "size", "bytes"))
    parts = [f"{k} {v[k]}" for k in ("missing", "extra", "dirs_missing", "dirs_extra",
                                     "size", "bytes") if v[k]]
    v["summary"] = "equal (times not compared)" if v["ok"] else ", ".join(parts)
    return v


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    for need in (a.peex_bin, a.plugin):
        if not os.path.exists(need):
            sys.exit(f"missing {need}: cargo build --release -p peex -p peex-example-transport")
    label = f"webdav-{a.mode}" + (f"-{a.tag}" if a.tag else "")
    run_dir = os.path.join(BENCH, "run", label)
    shutil.rmtree(run_dir, ignore_errors=True)
    logs = os.path.join(run_dir, "logs")
    os.makedirs(logs)
    data_dir = os.path.join(BENCH, "data")
    base = tree.ensure_tree(data_dir, a.files, a.dirs, a.big, a.big_mib, a.seed, log=log)
    work = os.path.join(data_dir, f"{label}-work", "src")
    served = os.path.join(data_dir, f"{label}-server")
    dest = os.path.join(served, "dst")
    reset_dir(served)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": os.path.join(run_dir, "home"), "RCLONE_CONFIG": "/dev/null"}
    os.makedirs(env["HOME"])
    peex = os.path.join(run_dir, "peex")
    plugin = os.path.join(run_dir, "libpeex_webdav.so")
    shutil.copy2(a.peex_bin, peex)
    shutil.copy2(a.plugin, plugin)
    machine = sysinfo.collect(REPO, a.peex_bin)
    link = srv = None
    records = []
    try:
        if a.mode == "ns":
            link = LatencyLink(a.rtt, BENCH, run_dir, log=log).up()
            host, prefix = NS_ADDR, ["ip", "netns", "exec", NS]
            link_desc = (f"network namespace `{NS}` behind {link.kind}, {a.rtt:g} ms RTT "
                         f"requested, {link.measured_rtt_ms:.1f} ms measured")
        else:
            host, prefix = "127.0.0.1", []
            link_desc = "loopback 127.0.0.1"
        port = 18480
        srv_out = open(os.path.join(run_dir, "rclone-serve.out"), "wb")
        srv = subprocess.Popen(prefix + ["rclone", "serve", "webdav", "--dir-cache-time", "0s",
                                         "--addr", f"{host}:{port}", served],
                               stdout=srv_out, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 20
        while True:
            try:
                socket.create_connection((host, port), timeout=1).close()
                break
            except OSError:
                if time.time() > deadline or srv.poll() is not None:
                    raise RuntimeError("rclone serve webdav did not start")
                time.sleep(0.2)
        cfg = os.path.join(run_dir, "site.ron")
        with open(cfg, "w") as f:
            f.write(f'(transport: "webdav", host: "{host}", port: {port}, source: "{work}/", '
                    f'dest: "/dst", srcutime: true, plugins: ["{plugin}"], '
                    f'options: {{"tls": "false", "parallel": "{a.parallel}"}})\n')
        tools = {f"peex-j{a.conns}": [peex, "-q", "-j", str(a.conns), cfg]}
        transfers = [] if a.peex_only else \
            [a.conns] + [int(x) for x in a.rclone_transfers.split(",") if x]
        for t in transfers:
            tools[f"rclone-t{t}"] = ["rclone", "sync", work + "/", ":webdav:/dst",
                                     "--webdav-url", f"http://{host}:{port}",
                                     "--transfers", str(t), "--checkers", str(t)]
        for run in range(1, a.runs + 1):
            for name, argv_ in tools.items():
                reset_dir(os.path.dirname(work))
                subprocess.run(["cp", "-a", base["path"], work], check=True)
                reset_dir(dest)
                for phase in PHASES:
                    change = tree.apply_change(work, a.change, seed=run) if phase == "change" else None
                    settle(work)
                    stem = os.path.join(logs, f"{name}-r{run}-{phase}")
                    wall, rss, rc, to = measure(argv_, env, stem + ".out", a.timeout)
                    v = verify_no_mtime(work, dest)
                    records.append({"tool": name, "run": run, "phase": phase,
                                    "wall_s": round(wall, 4), "rss_kib": rss, "rc": rc,
                                    "timed_out": to, "verify": v, "change": change})
                    ok = rc == 0 and v["ok"] and not to
                    log(f"{label} r{run} {name:10s} {phase:7s} {wall:7.2f}s rc={rc} "
                        f"rss={rss / 1024:.1f}MiB verify={v['summary']} {'ok' if ok else 'FAIL'}")
    finally:
        if srv:
            srv.terminate()
            srv.wait()
        if link:
            link.down()
    now = datetime.datetime.now(datetime.timezone.utc)
    out = os.path.join(BENCH, "results", f"{now.strftime('%Y-%m-%d')}-{label}.md")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out[:-3] + ".json", "w") as f:
        json.dump({"records": records, "sysinfo": machine, "tree": {k: v for k, v in base.items()
                                                                    if k != "path"}}, f, indent=1)
    md = [f"# WebDAV benchmark — {'loopback' if a.mode == 'lo' else f'{a.rtt:g} ms RTT'}\n",
          f"- date: {now.strftime('%Y-%m-%d %H:%M UTC')}",
          f"- command: `flock /tmp/peex-bench.lock python3 bench/webdav.py "
          f"{' '.join(shlex.quote(x) for x in (sys.argv[1:] if argv is None else argv))}`",
          f"- server: `rclone serve webdav --dir-cache-time 0s` ({machine.get('rclone', '')}); "
          f"link: {link_desc}",
          f"- tree: {base['files']} files in {base['dirs']} dirs, "
          f"{base['bytes'] / 2**20:.1f} MiB; change: modify {a.change:g}%, delete "
          f"{a.change / 2:g}%, add {a.change / 2:g}%",
          f"- peex: `-j {a.conns}`, plugin option `parallel={a.parallel}` (up to "
          f"{a.conns * a.parallel} HTTP requests in flight), `srcutime`",
          "- verification: names, sizes, bytes (times cannot be set on this server)",
          "", "| tool | (a) initial | (b) no-op | (c) 2% change | peak RSS MiB | verification |",
          "|---|---:|---:|---:|---:|---|"]
    med = {}
    for name in tools:
        cells = []
        bad = []
        for ph in PHASES:
            rs = [r for r in records if r["tool"] == name and r["phase"] == ph]
            if not rs:
                cells.append("–")
                continue
            xs = sorted(r["wall_s"] for r in rs)
            med[(name, ph)] = statistics.median(xs)
            cells.append(f"**{med[(name, ph)]:.2f}** ({xs[0]:.2f}–{xs[-1]:.2f})")
            bad += [f"{ph} r{r['run']}: {r['verify']['summary']}" for r in rs
                    if not r["verify"]["ok"] or r["rc"] != 0 or r["timed_out"]]
        rss = max((r["rss_kib"] for r in records if r["tool"] == name), default=0) / 1024
        md.append(f"| {name} | " + " | ".join(cells) +
                  f" | {rss:.1f} | {'; '.join(bad) if bad else 'server = source after every phase'} |")
    md += ["", "rclone ÷ peex (median wall time; **> 1 means peex is faster**):", "",
           "| rclone | (a) initial | (b) no-op | (c) 2% change |", "|---|---:|---:|---:|"]
    pname = f"peex-j{a.conns}"
    for name in tools:
        if name == pname:
            continue
        md.append(f"| {name} | " + " | ".join(
            f"{med[(name, ph)] / med[(pname, ph)]:.2f}" if (name, ph) in med and (pname, ph) in med
            else "–" for ph in PHASES) + " |")
    text = "\n".join(md) + "\n"
    with open(out, "w") as f:
        f.write(text)
    print(text)
    log(f"wrote {out}")


if __name__ == "__main__":
    main()
