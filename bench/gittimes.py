#!/usr/bin/env python3
"""Measures peex's `mtime_from = git` pass on a synthetic history.

Builds (once, cached in bench/data/) a repository of --commits commits over --files files
with `git fast-import`: commit k adds files until --files exist (spread evenly) and changes a
few existing ones picked by a seeded RNG, with committer time 1.6e9 + 60 k. Then, for --runs
runs, times:

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
        if k > 0:
            w.write(b"from refs/heads/main^0\n")
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--commits", type=int, default=5000)
    ap.add_argument("--files", type=int, default=20000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peex", default=os.path.join(ROOT, "target", "release", "peex"))
    a = ap.parse_args()
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
    passes, walls, logs = [], [], []
    pat = re.compile(r"times of (\d+) files from git \((\d+) commits read in ([0-9.]+) s\)")
    with tempfile.TemporaryDirectory() as tmp:
        dest = os.path.join(tmp, "dest")
        os.makedirs(dest)
        site = os.path.join(tmp, "site.peex")
        with open(site, "w") as f:
            f.write(f"[site]\ntransport=local\nsource={repo}/site/\ndest={dest}\n")
        for run in range(1, a.runs + 1):
            t = time.perf_counter()
            r = subprocess.run([a.peex, "-d", "-v",
                                "--mtime-from", "git", site], capture_output=True, text=True)
            wall = time.perf_counter() - t
            m = pat.search(r.stdout + r.stderr)
            if r.returncode != 0 or not m:
                sys.exit(f"peex failed ({r.returncode}):\n{r.stdout[-2000:]}\n{r.stderr[-2000:]}")
            t = time.perf_counter()
            subprocess.run(["git", "-C", repo, "log", "-z", "--name-only", "--no-renames",
                            "--format=%x00%ct"], stdout=subprocess.DEVNULL, check=True)
            log = time.perf_counter() - t
            passes.append(float(m.group(3)))
            walls.append(wall)
            logs.append(log)
            print(f"run {run}: pass {m.group(3)} s ({m.group(1)} files, {m.group(2)} commits "
                  f"read); whole dry run {wall:.2f} s; plain git log {log:.2f} s")
    print(f"median of {a.runs}: pass {statistics.median(passes):.2f} s, dry run "
          f"{statistics.median(walls):.2f} s, git log {statistics.median(logs):.2f} s")


if __name__ == "__main__":
    main()
