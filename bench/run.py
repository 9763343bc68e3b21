#!/usr/bin/env python3
"""peex benchmark: peex vs lftp `mirror -R --delete` vs `rclone sync`, pushing a local tree
to a private proftpd, on loopback (mode lo) or behind a simulated-latency link (mode ns).
With --proto sftp the server is a private OpenSSH sshd (sftp-server) instead, in the same
place, and `rsync -a --delete` over ssh (tool rsync-c1) joins the contenders.

For every tool in --tools and every run (runs are interleaved across tools):
  (a) initial upload of a fresh copy of the tree into an empty /dst,
  (b) no-op re-sync,
  (c) re-sync after a seeded change (modify 2%, delete 1%, add 1% of the files).
After every phase the server's /dst is compared with the source (file and dir names,
sizes, bytes, mtimes to the second); the FTP commands each phase sent are counted from
the server's command log, and the tool's wall time and peak RSS (wait4) are recorded.
Writes bench/results/<date>-<mode>.md (+ .json with every run) and prints the report.

examples:
  python3 bench/run.py --smoke                       # ~10 s sanity check, peex only
  python3 bench/run.py                               # loopback, 6 tools, 3 runs
  python3 bench/run.py --mode ns --rtt 20 --tools peex-j8,lftp-p8,rclone-t8
  python3 bench/run.py --scale --runs 1 --tools peex-j8,lftp-p8,rclone-t8,peex-j1
  python3 bench/run.py --scale --mode ns --rtt 20 --runs 1 --tools peex-j8,lftp-p8,rclone-t8
  python3 bench/run.py --proto sftp --mode ns --rtt 20 --tools peex-j8,lftp-p8,rclone-t8,rsync-c1

Needs root (server dir ownership, network namespace), proftpd (proftpd-basic), lftp,
rclone, cc (for the latency relay when the kernel has no netem) and cargo (to build peex
if --peex-bin does not exist). Not part of the test suite: it takes minutes to hours."""
import argparse
import datetime
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, BENCH)

from peexbench import cmdlog, report, sftplog, sysinfo, tree, verify  # noqa: E402
from peexbench.ftpd import FTP_PASS, FTP_USER, ProFtpd, port_free  # noqa: E402
from peexbench.kitftpd import SERVERS as KIT_SERVERS  # noqa: E402
from peexbench.link import NS, NS_ADDR, LatencyLink  # noqa: E402
from peexbench.sshd import BENCH_USER, Sshd  # noqa: E402
from peexbench.tools import TOOL_NAMES, Tool, measure  # noqa: E402

DEFAULT_TOOLS = "peex-j8,lftp-p8,rclone-t8,peex-j1,lftp-p1,rclone-t1"
TREE_DEFAULTS = {"lo": (2000, 150), "ns": (1000, 150)}    # (files, dirs)
# --scale: the large-site trees (bench tree shape, depth <= 4)
SCALE_TREES = {"lo": (100_000, 5000), "ns": (20_000, 2000)}
SERVER_UID = 2121                                          # the FTP virtual user's uid
PHASES = report.PHASES


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv):
    ap = argparse.ArgumentParser(prog="bench/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mode", choices=("lo", "ns"), default="lo",
                    help="lo: server on 127.0.0.1; ns: server in network namespace "
                         f"'{NS}' behind a link with --rtt round trip (default lo)")
    ap.add_argument("--proto", choices=("ftp", "sftp"), default="ftp",
                    help="ftp: proftpd (default); sftp: OpenSSH sshd + sftp-server, key login")
    ap.add_argument("--rtt", type=float, default=20.0, metavar="MS",
                    help="round-trip time of the ns link in ms (default 20)")
    ap.add_argument("--tools", default=DEFAULT_TOOLS,
                    help=f"comma-separated, from {','.join(TOOL_NAMES)} (default: all six)")
    ap.add_argument("--server", choices=("proftpd", *KIT_SERVERS), default="proftpd",
                    help="the FTP server (default proftpd; pure-ftpd and vsftpd from the test "
                         "kit, scripts/testkit)")
    ap.add_argument("--runs", type=int, default=3, help="runs per tool and phase (default 3)")
    ap.add_argument("--files", type=int, help="small files in the tree (default 2000 lo, 1000 ns)")
    ap.add_argument("--dirs", type=int, help="directories in the tree (default 150)")
    ap.add_argument("--big", type=int, default=2, help="number of big files (default 2)")
    ap.add_argument("--big-mib", type=int, default=8, help="size of each big file in MiB (default 8)")
    ap.add_argument("--seed", type=int, default=1, help="tree seed (default 1)")
    ap.add_argument("--change", type=float, default=2.0, metavar="PERCENT",
                    help="phase (c): modify PERCENT%%, delete and add PERCENT/2%% (default 2)")
    ap.add_argument("--peex-bin", default=os.path.join(REPO, "target", "release", "peex"),
                    help="peex binary (default target/release/peex; built with "
                         "`cargo build --release -p peex` if missing)")
    ap.add_argument("--port", type=int, default=0,
                    help="FTP control port (default: first free port from 2321)")
    ap.add_argument("--timeout", type=int, default=1800, help="seconds before a tool run is killed")
    ap.add_argument("--results", default=os.path.join(BENCH, "results"),
                    help="directory for <date>-<mode>.md/.json (default bench/results)")
    ap.add_argument("--tag", default="",
                    help="suffix for the result files (<date>-<mode>-<tag>.md) and the scratch "
                         "dir (bench/run/<mode>-<tag>/); default none")
    ap.add_argument("--report-from", metavar="JSON",
                    help="only re-render the report of an earlier run from its .json "
                         "(re-counting commands from its bench/run/<mode>[-tag]/logs/ if present)")
    ap.add_argument("--scale", action="store_true",
                    help="the large-site benchmark: 100 000 files in 5 000 directories on "
                         "loopback, 20 000 in 2 000 with --mode ns (unless --files/--dirs say "
                         "otherwise); results tagged 'scale' unless --tag is given. The "
                         "lftp/rclone runs of the loopback tree take minutes each: use "
                         "--runs 1 or 2")
    ap.add_argument("--smoke", action="store_true",
                    help="tiny tree, 1 run, peex only, loopback; exits non-zero unless every "
                         "phase verified (report goes to bench/run/smoke/, not results/)")
    a = ap.parse_args(argv)
    if a.smoke:
        a.mode, a.runs, a.tools = "lo", 1, "peex-j8,peex-j1"
        a.files, a.dirs, a.big, a.big_mib = 120, 12, 1, 2
    files, dirs = (SCALE_TREES if a.scale else TREE_DEFAULTS)[a.mode]
    if a.scale and not a.tag:
        a.tag = "scale"
    a.files = files if a.files is None else a.files
    a.dirs = dirs if a.dirs is None else a.dirs
    a.tools = [t.strip() for t in a.tools.split(",") if t.strip()]
    for t in a.tools:
        if t not in TOOL_NAMES:
            ap.error(f"unknown tool {t!r}; known: {', '.join(TOOL_NAMES)}")
    if a.runs < 1:
        ap.error("--runs must be >= 1")
    return a


# -- prerequisites -------------------------------------------------------------------------
def ensure_prereqs(a):
    if os.geteuid() != 0:
        sys.exit("run.py: needs root (chown of the served dir to the FTP user, netns for "
                 "--mode ns). Run it with sudo.")
    missing_pkgs = []
    if not shutil.which("proftpd"):
        missing_pkgs.append("proftpd-basic")
    elif not os.path.exists("/usr/lib/proftpd/mod_site_misc.so"):
        sys.exit("run.py: /usr/lib/proftpd/mod_site_misc.so missing (SITE UTIME); "
                 "install proftpd-basic >= 1.3.6 (Debian/Ubuntu) or build proftpd with it")
    families = {t.split("-")[0] for t in a.tools}
    if "rsync" in families and a.proto != "sftp":
        sys.exit("run.py: rsync-c1 runs over ssh: use it with --proto sftp")
    for fam in ("lftp", "rclone", "rsync"):
        if fam in families and not shutil.which(fam):
            missing_pkgs.append(fam)
    if not os.path.exists("/usr/bin/time"):
        missing_pkgs.append("time")
    if a.mode == "ns" and not shutil.which("cc"):
        missing_pkgs.append("gcc")
    if missing_pkgs:
        log(f"installing {' '.join(missing_pkgs)} with apt-get")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing_pkgs], env=env)
        if r.returncode != 0:
            subprocess.run(["apt-get", "update"], env=env)
            r = subprocess.run(["apt-get", "install", "-y", "--no-install-recommends", *missing_pkgs], env=env)
        if r.returncode != 0:
            sys.exit(f"run.py: could not install {' '.join(missing_pkgs)}; install them "
                     f"(apt-get install {' '.join(missing_pkgs)}) and re-run")
    if "peex" in families and not os.path.exists(a.peex_bin):
        default = os.path.join(REPO, "target", "release", "peex")
        if os.path.abspath(a.peex_bin) != default:
            sys.exit(f"run.py: --peex-bin {a.peex_bin} does not exist")
        log("building peex: cargo build --release -p peex")
        subprocess.run(["cargo", "build", "--release", "-p", "peex"], cwd=REPO, check=True)
    a.peex_bin = os.path.abspath(a.peex_bin)


# -- one mode ------------------------------------------------------------------------------
def reset_dir(path, uid=None):
    if os.path.lexists(path):
        shutil.rmtree(path)
    os.makedirs(path)
    if uid is not None:
        os.chown(path, uid, uid)


def settle_caches(src):
    """Every timed phase starts from the same kernel state: dirty pages written back (so
    writeback does not compete with the tool for the CPUs), the page, dentry and inode
    caches dropped, then the source tree read once (a deploy runs right after the build
    that wrote it, so its tree is in memory; the server's side stays cold). Without the
    drop, on the benchmark VM the kernel time of creating files grew run after run as
    deleted trees piled up in the caches (the same peex initial upload took 0.81, 1.58,
    1.53, 1.84, 1.99 s in five identical runs; 0.89-0.98 s with the drop), and it hit every
    tool alike, so medians measured the run's position, not the tool."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        pass    # not root: synced only (the report's "caches" line says which)
    for root, _dirs, files in os.walk(src):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                while f.read(1 << 20):
                    pass


def caches_note():
    return ("synced, page/dentry/inode caches dropped, then the source tree read once, "
            "before every timed phase" if os.access("/proc/sys/vm/drop_caches", os.W_OK) else
            "synced before every timed phase (caches not dropped: needs root)")


def bench_mode(a):
    label = ("smoke" if a.smoke else a.mode) + ("-sftp" if a.proto == "sftp" else "")
    # scratch per mode and tag, so a second run with another --tag keeps the first's logs
    scratch = label + (f"-{a.tag}" if a.tag and not a.smoke else "")
    if a.server != "proftpd":
        scratch += f"-{a.server}"
    run_dir = os.path.join(BENCH, "run", scratch)
    data_dir = os.path.join(BENCH, "data")
    logs = os.path.join(run_dir, "logs")
    shutil.rmtree(run_dir, ignore_errors=True)
    os.makedirs(logs)
    os.makedirs(data_dir, exist_ok=True)

    base = tree.ensure_tree(data_dir, a.files, a.dirs, a.big, a.big_mib, a.seed, log=log)
    work = os.path.join(data_dir, f"{scratch}-work", "src")
    served = os.path.join(data_dir, f"{scratch}-server")
    dest = os.path.join(served, "dst")
    reset_dir(served)

    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8",
           "HOME": os.path.join(run_dir, "home")}
    env["XDG_CONFIG_HOME"] = os.path.join(env["HOME"], ".config")
    env["XDG_CACHE_HOME"] = os.path.join(env["HOME"], ".cache")
    env["XDG_DATA_HOME"] = os.path.join(env["HOME"], ".local", "share")
    env["RCLONE_CONFIG"] = os.path.join(env["HOME"], "rclone.conf")
    os.makedirs(env["HOME"])
    open(env["RCLONE_CONFIG"], "w").close()

    link = server = None
    records = []
    incomplete = None
    # run a private copy: a `cargo build` elsewhere must not swap the binary mid-benchmark
    peex_fp = sysinfo.fingerprint(a.peex_bin)
    machine = sysinfo.collect(REPO, a.peex_bin)      # git rev as of the copy, not the end
    if a.proto == "sftp":
        # the server of this mode (the report's "versions" line names it where proftpd was)
        ssh_v = subprocess.run(["ssh", "-V"], capture_output=True, text=True).stderr.strip()
        rsync_v = subprocess.run(["rsync", "--version"], capture_output=True,
                                 text=True).stdout.split("\n")[0].strip()
        machine["proftpd"] = f"{ssh_v} (sshd + sftp-server); {rsync_v}"
    peex_copy = os.path.join(run_dir, "peex")
    if os.path.exists(a.peex_bin):
        shutil.copy2(a.peex_bin, peex_copy)
    try:
        if a.mode == "ns":
            link = LatencyLink(a.rtt, BENCH, run_dir, log=log).up()
            host = NS_ADDR
            link_desc = (f"network namespace `{NS}` behind {link.kind}, {a.rtt:g} ms RTT requested, "
                         f"{link.measured_rtt_ms:.1f} ms measured (TCP connect→RST); "
                         f"server {NS_ADDR}, client on the host side")
        else:
            host = "127.0.0.1"
            link_desc = "loopback 127.0.0.1 (no added latency)"
        first_port = 2322 if a.proto == "sftp" else 2321
        port = a.port or next(p for p in range(first_port, first_port + 100)
                              if a.mode == "ns" or port_free(host, p))
        netns = NS if a.mode == "ns" else None
        peex_cfg = os.path.join(run_dir, "site.peex")
        if a.proto == "sftp":
            server = Sshd(os.path.join(run_dir, "sshd"), served, host, port, netns=netns).start()
            server_uid, user, password, remote_dest = server.uid, BENCH_USER, FTP_PASS, dest
            log(f"sshd pid {server.proc.pid} on {host}:{port}, serving {served}")
            with open(peex_cfg, "w") as f:
                f.write(f"[site]\ntransport=sftp\nhost={host}\nport={port}\nuser={user}\n"
                        f"key_file={server.key}\nknown_hosts={server.known_hosts}\n"
                        f"source={work}/\ndest={dest}/\n")
        else:
            kind = ProFtpd if a.server == "proftpd" else KIT_SERVERS[a.server]
            server = kind(os.path.join(run_dir, "ftpd"), served, host, port, uid=SERVER_UID,
                          netns=netns).start()
            user = getattr(server, "user", FTP_USER)
            password = getattr(server, "password", FTP_PASS)
            server_uid, remote_dest = SERVER_UID, "/dst"
            log(f"{a.server} pid {server.proc.pid} on {host}:{port}, serving {served}")
            with open(peex_cfg, "w") as f:
                f.write(f"[site]\nhost={host}\nport={port}\nuser={user}\npass={password}\n"
                        f"source={work}/\ndest=/dst/\n")
        os.chmod(peex_cfg, 0o600)
        parse_log = sftplog.parse if a.proto == "sftp" else cmdlog.parse
        rclone_pass = ""
        if any(t.startswith("rclone") for t in a.tools):
            rclone_pass = subprocess.run(["rclone", "obscure", password], capture_output=True,
                                         text=True, env=env, check=True).stdout.strip()
        ctx = {"proto": a.proto, "host": host, "port": port, "user": user,
               "password": password, "src": work + "/", "dest": remote_dest,
               "peex_bin": peex_copy, "peex_cfg": peex_cfg, "rclone_pass": rclone_pass or "\0"}
        if a.proto == "sftp":
            ctx.update(key=server.key, known_hosts=server.known_hosts)
        tools = [Tool(t) for t in a.tools]

        for run in range(1, a.runs + 1):
            for tool in tools:
                reset_dir(os.path.dirname(work))
                subprocess.run(["cp", "-a", base["path"], work], check=True)
                server.wait_idle()
                reset_dir(dest, server_uid)
                for phase in PHASES:
                    change = None
                    if phase == "change":
                        change = tree.apply_change(work, a.change, seed=run)
                    server.wait_idle()
                    settle_caches(work)
                    start = server.log_size()
                    stem = os.path.join(logs, f"{tool.name}-r{run}-{phase}")
                    t_start = time.time()
                    wall, rss, rc, timed_out = measure(tool.argv(ctx), env, stem + ".out", a.timeout)
                    idle = server.wait_idle()
                    text = server.read_log(start)
                    with open(stem + ".cmds", "w") as f:
                        f.write(text)
                    cmds = parse_log(text)
                    ver = verify.compare_trees(work, dest)
                    ver["summary"] = verify.describe(ver)
                    rec = {"mode": label, "tool": tool.name, "run": run, "phase": phase,
                           "wall_s": round(wall, 4), "rss_kib": rss, "rc": rc,
                           "timed_out": timed_out, "server_idle_after": idle,
                           "verify": ver, "cmds_total": cmds["total"], "sessions": cmds["sessions"],
                           "verbs": dict(cmds["verbs"]), "errors": dict(cmds["errors"]),
                           "change": change,
                           # server-side view: first command came this long after the spawn,
                           # last one this long before the tool exited (ms resolution)
                           "first_cmd_s": round(cmds["first"] - t_start, 3) if cmds["first"] else None,
                           "tail_s": round(t_start + wall - cmds["last"], 3) if cmds["last"] else None}
                    records.append(rec)
                    flag = "ok" if (rc == 0 and ver["ok"] and not timed_out) else "FAIL"
                    log(f"{label} r{run} {tool.name:9s} {phase:7s} {wall:8.2f}s rc={rc} "
                        f"rss={rss / 1024:.1f}MiB cmds={cmds['total']} sess={cmds['sessions']} "
                        f"first-cmd={rec['first_cmd_s']}s "
                        f"verify={ver['summary']} {flag}")
                    if flag == "FAIL" and ver["examples"]:
                        log("   e.g. " + "; ".join(ver["examples"][:3]))
    except (KeyboardInterrupt, SystemExit, Exception) as e:
        # keep what was measured: the report says it is incomplete, then we fail
        incomplete = f"{type(e).__name__}: {e}"
        log(f"stopped early ({incomplete}); writing the report of what was measured")
        if not records:
            raise
    finally:
        if server:
            server.stop()
        if link:
            link.down()

    now = datetime.datetime.now(datetime.timezone.utc)
    mode_title = ("smoke test (loopback, tiny tree)" if a.smoke else
                  "loopback" if a.mode == "lo" else f"{a.rtt:g} ms RTT (network namespace)")
    if a.proto == "sftp":
        mode_title += ", SFTP (OpenSSH sshd)"
    meta = {"mode": label, "mode_title": mode_title, "proto": a.proto,
            "date": now.strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(shlex.quote(x) for x in [os.path.relpath(sys.argv[0]) if
                                                         sys.argv[0] else "run.py"] + sys.argv[1:]),
            "sysinfo": machine,
            "tree": {k: v for k, v in base.items() if k != "path"},
            "change": f"modify {a.change:g}%, delete {a.change / 2:g}%, add {a.change / 2:g}% of the files",
            "link": link_desc + f"; FTP server: {a.server}",
            "caches": caches_note(),
            "logs": os.path.relpath(logs, BENCH),
            "tools": {t.name: t.display(ctx) for t in tools}}
    meta["sysinfo"]["peex"] += (f", binary sha256 {peex_fp} (copied to the run dir "
                                "before the first run)")
    if incomplete:
        meta["note"] = (meta.get("note", "") + f" INCOMPLETE — the run stopped early "
                        f"({incomplete}); only the runs listed were measured").strip()
    if a.smoke:
        out_md = os.path.join(run_dir, "report.md")
    else:
        os.makedirs(a.results, exist_ok=True)
        tag = f"-{a.tag}" if a.tag else ""
        srv = "" if a.server == "proftpd" else f"-{a.server}"
        out_md = os.path.join(a.results, f"{now.strftime('%Y-%m-%d')}-{label}{srv}{tag}.md")
    write_report(meta, records, a.tools, out_md)
    if incomplete:
        return records + [{"rc": 1, "timed_out": False, "verify": {"ok": False}}]
    bad = [r for r in records if r["rc"] != 0 or r["timed_out"] or not r["verify"]["ok"]]
    return bad


def write_report(meta, records, tools, out_md):
    md = report.markdown(meta, records, tools)
    md += "## Exact tool command lines\n\n" + "\n".join(
        f"- `{n}`: `{c}`" for n, c in meta["tools"].items()) + "\n"
    md += ("\nSITE.peex is the generated PEEX INI `[site]` (host, port, user, pass, "
           "source=SRC/, dest=/dst/). Raw per-run records: the .json beside this file; "
           "tool output and each phase's server command log: bench/" +
           meta.get("logs", f"run/{meta['mode']}/logs") + "/.\n")
    with open(out_md, "w") as f:
        f.write(md)
    with open(out_md[:-3] + ".json", "w") as f:
        json.dump({"meta": meta, "records": records}, f, indent=1)
    print(md)
    log(f"report written to {os.path.relpath(out_md)}")


def rebuild_report(path):
    """Re-render a report from its .json, re-counting the commands from the per-phase
    server log slices in bench/run/<mode>/logs/ when they are still there."""
    with open(path) as f:
        data = json.load(f)
    meta, records = data["meta"], data["records"]
    logs = os.path.join(BENCH, meta.get("logs", os.path.join("run", meta["mode"], "logs")))
    for r in records:
        p = os.path.join(logs, f"{r['tool']}-r{r['run']}-{r['phase']}.cmds")
        if os.path.exists(p):
            with open(p, errors="replace") as f:
                c = cmdlog.parse(f.read())
            r.update(verbs=dict(c["verbs"]), errors=dict(c["errors"]),
                     sessions=c["sessions"], cmds_total=c["total"])
    tools = list(dict.fromkeys(r["tool"] for r in records))
    write_report(meta, records, tools, path[:-5] + ".md")
    return 0


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if a.report_from:
        return rebuild_report(a.report_from)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))   # run the cleanup in finally
    ensure_prereqs(a)
    try:
        bad = bench_mode(a)
    except (RuntimeError, subprocess.CalledProcessError) as e:
        log(f"run.py: {e}")
        return 2
    if bad:
        log(f"{len(bad)} tool run(s) failed or did not verify (see the report)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
