#!/usr/bin/env python3
"""Measures peex's `mtime_from = git` pass on a synthetic history.

Builds (once, cached in bench/data/) a repository of --commits commits over --files files
with `git fast-import`: commit k adds files until --files exist (spread evenly) and changes a
few existing ones picked by a seeded RNG, with committer time 1.6e9 + 60 k. Then, for --runs
runs, times:

  - the pass alone (`examples/git_pass`, which calls the same code as peex), wall and CPU
    time of it and its git processes (CPU time is the figure to read on a loaded machine);
  - `peex -d -v --mtime-from git SITE` (local transport, empty dest): the `times of N files
    from git (M commits read in S s)` line peex prints is the pass itself;
  - the whole dry run (wall clock), for context;
  - `git log -z --name-only --no-renames --format=%x00%ct` to the end, the floor the pass
    is built on (one git process over the whole history).

Usage: python3 bench/gittimes.py [--commits 5000] [--files 20000] [--runs 3] [--peex PATH]
"""

import argparse
import os
import random
import resource
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def build_repo(path, commits, files, seed=14):
    rng = random.Random(seed)
    os.makedirs(path)
    subprocess.run(["git", "init", "-q", path], check=True)
    fi = subprocess.Popen(["git", "-C", path, "fast-import", "--quiet"], stdin=subprocess.PIPE)
    w = fi.stdin
    existing = []
    for k in range(commits):
        target = (k + 1) * files // commits
        changes = []
        while len(existing) < target:
            i = len(existing)
            name = f"site/d{i % 97}/s{i % 13}/f{i}.html"
            existing.append(name)
            changes.append(name)
        for _ in range(min(6, len(existing))):
            changes.append(existing[rng.randrange(len(existing))])
        t = 1_600_000_000 + 60 * k
        msg = f"commit {k}\n".encode()
        w.write(b"commit refs/heads/main\n")
        w.write(f"committer bench <bench@example.invalid> {t} +0000\n".encode())
        w.write(b"data %d\n" % len(msg) + msg)
        for name in dict.fromkeys(changes):
            body = f"{name} {k} {rng.random()}\n".encode()
            w.write(f"M 100644 inline {name}\n".encode())
            w.write(b"data %d\n" % len(body) + body + b"\n")
        w.write(b"\n")
    w.close()
    if fi.wait() != 0:
        sys.exit("git fast-import failed")
    subprocess.run(["git", "-C", path, "symbolic-ref", "HEAD", "refs/heads/main"], check=True)
    subprocess.run(["git", "-C", path, "checkout", "-q", "-f", "main"], check=True)


def cpu_children():
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=5000)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peex", default=os.path.join(ROOT, "target", "release", "peex"))
    ap.add_argument("--pass-bin",
                    default=os.path.join(ROOT, "target", "release", "examples", "git_pass"))
    a = ap.parse_args()
    if not os.path.exists(a.pass_bin):
        sys.exit(f"{a.pass_bin} not found: build it with "
                 "`cargo build --release -p peex --example git_pass`")
    if not os.path.exists(a.peex):
        sys.exit(f"{a.peex} not found: build it with `cargo build --release -p peex`")
    repo = os.path.join(HERE, "data", f"git-{a.commits}c-{a.files}f")
    if not os.path.isdir(os.path.join(repo, ".git")):
        shutil.rmtree(repo, ignore_errors=True)
        t = time.time()
        build_repo(repo, a.commits, a.files)
        print(f"built {repo} in {time.time() - t:.1f} s")
    n_commits = subprocess.run(["git", "-C", repo, "rev-list", "--count", "HEAD"],
                               capture_output=True, text=True, check=True).stdout.strip()
    n_files = subprocess.run(["git", "-C", repo, "ls-files"], capture_output=True, text=True,
                             check=True).stdout.count("\n")
    print(f"history: {n_commits} commits, {n_files} tracked files; git "
          f"{subprocess.run(['git', '--version'], capture_output=True, text=True).stdout.strip()}")
    passes, walls, logs, cpus, log_cpus = [], [], [], [], []
    alone, alone_cpu = [], []
    pat = re.compile(r"times of (\d+) files from git \((\d+) commits read in ([0-9.]+) s\)")
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "dest")
        os.makedirs(dest)
        site = os.path.join(tmp, "site.peex")
        with open(site, "w") as f:
            f.write(f"[site]\ntransport=local\nsource={repo}/site/\ndest={dest}\n")
        for run in range(1, a.runs + 1):
            t, c = time.perf_counter(), cpu_children()
            r = subprocess.run([a.peex, "-d", "-v",
                                "--mtime-from", "git", site], capture_output=True, text=True)
            wall, cpu = time.perf_counter() - t, cpu_children() - c
            m = pat.search(r.stdout + r.stderr)
            if r.returncode != 0 or not m:
                sys.exit(f"peex failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            t, c = time.perf_counter(), cpu_children()
            subprocess.run(["git", "-C", repo, "log", "-z", "--name-only", "--no-renames",
                            "--format=%x00%ct"], stdout=subprocess.DEVNULL, check=True)
            log, log_cpu = time.perf_counter() - t, cpu_children() - c
            t, c = time.perf_counter(), cpu_children()
            p = subprocess.run([a.pass_bin, os.path.join(repo, "site")], capture_output=True,
                               text=True, check=True)
            alone.append(time.perf_counter() - t)
            alone_cpu.append(cpu_children() - c)
            print(f"run {run}: the pass alone (examples/git_pass): {p.stdout.strip()}, "
                  f"{alone[-1]:.2f} s wall, {alone_cpu[-1]:.2f} s CPU (with its git processes)")
            passes.append(float(m.group(3)))
            walls.append(wall)
            logs.append(log)
            cpus.append(cpu)
            log_cpus.append(log_cpu)
            print(f"run {run}: pass {m.group(3)} s wall ({m.group(1)} files, {m.group(2)} "
                  f"commits read); whole dry run {wall:.2f} s wall, {cpu:.2f} s CPU (peex + "
                  f"git); plain git log {log:.2f} s wall, {log_cpu:.2f} s CPU")
    load = os.getloadavg()[0]
    print(f"median of {a.runs}: the pass alone {statistics.median(alone):.2f} s wall / "
          f"{statistics.median(alone_cpu):.2f} s CPU")
    print(f"median of {a.runs}: pass {statistics.median(passes):.2f} s wall; dry run "
          f"{statistics.median(walls):.2f} s wall / {statistics.median(cpus):.2f} s CPU; "
          f"git log {statistics.median(logs):.2f} s wall / {statistics.median(log_cpus):.2f} s "
          f"CPU; load average {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
