"""Deterministic test trees and the seeded 2% change applied before phase (c).

A tree is fully determined by (files, dirs, big, big_mib, seed): same names, same bytes,
same integer mtimes. Generated trees are cached under bench/data/ and copied per run."""
import json
import math
import os
import random
import shutil

TREE_MTIME0 = 1_700_000_000      # 2023-11-14: base of the generated mtimes
CHANGE_MTIME0 = 1_760_000_000    # 2025-10-09: newer than anything in a fresh tree
SMALL_LO, SMALL_HI = 200, 64 * 1024
MAX_DEPTH = 4


def _small_size(rng):
    """Log-uniform size between SMALL_LO and SMALL_HI (many small files, some larger)."""
    return int(math.exp(rng.uniform(math.log(SMALL_LO), math.log(SMALL_HI))))


def _write(path, data, mtime):
    with open(path, "wb") as f:
        f.write(data)
    os.utime(path, (mtime, mtime))


def tree_key(files, dirs, big, big_mib, seed):
    return f"tree-f{files}-d{dirs}-b{big}x{big_mib}m-s{seed}"


def ensure_tree(data_dir, files, dirs, big, big_mib, seed, log=print):
    """Return the path of the cached base tree, generating it if needed."""
    home = os.path.join(data_dir, tree_key(files, dirs, big, big_mib, seed))
    root, stamp = os.path.join(home, "tree"), os.path.join(home, "complete.json")
    if os.path.exists(stamp):
        with open(stamp) as f:
            info = json.load(f)
        info["path"] = root
        return info
    shutil.rmtree(home, ignore_errors=True)
    os.makedirs(root)
    rng = random.Random(seed)
    # directories: each new one hangs below the root or a not-too-deep earlier one
    nodes = [("", 0)]
    for i in range(dirs):
        parent, depth = rng.choice([n for n in nodes if n[1] < MAX_DEPTH])
        rel = os.path.join(parent, f"dir{i:03d}") if parent else f"dir{i:03d}"
        os.makedirs(os.path.join(root, rel))
        nodes.append((rel, depth + 1))
    places = [n[0] for n in nodes[1:]] or [""]
    total = 0
    for i in range(files):
        size = _small_size(rng)
        rel = os.path.join(rng.choice(places), f"file{i:05d}.bin")
        _write(os.path.join(root, rel), rng.randbytes(size), TREE_MTIME0 + rng.randrange(60 * 86400))
        total += size
    for i in range(big):
        size = big_mib * 2**20
        rel = os.path.join(rng.choice(places), f"large{i:02d}.bin")
        _write(os.path.join(root, rel), rng.randbytes(size), TREE_MTIME0 + rng.randrange(60 * 86400))
        total += size
    # fixed directory mtimes, deepest first so setting a child does not touch its parent later
    for rel, _ in sorted(nodes, key=lambda n: -n[1]):
        os.utime(os.path.join(root, rel) if rel else root, (TREE_MTIME0, TREE_MTIME0))
    info = {"files": files + big, "dirs": dirs, "bytes": total, "seed": seed,
            "max_depth": max(n[1] for n in nodes), "big": big, "big_mib": big_mib}
    with open(stamp, "w") as f:
        json.dump(info, f)
    log(f"tree: generated {root}: {files} small + {big} x {big_mib} MiB files, {dirs} dirs, "
        f"{total / 2**20:.1f} MiB")
    info["path"] = root
    return info


def list_files(root):
    out = []
    for base, dnames, fnames in os.walk(root):
        dnames.sort()
        rel = os.path.relpath(base, root)
        out += [os.path.normpath(os.path.join(rel, f)) for f in fnames]
    return sorted(out)


def list_dirs(root):
    out = [""]
    for base, dnames, _ in os.walk(root):
        rel = os.path.relpath(base, root)
        out += [os.path.normpath(os.path.join(rel, d)) for d in dnames]
    return sorted(out)


def apply_change(root, percent, seed):
    """Seeded change of a tree: modify percent% of the files (new bytes and a newer mtime;
    every other one keeps its size, so size alone cannot detect it), delete percent/2%,
    add percent/2% new small files in existing directories. Depends only on the sorted
    file list, percent and seed, so every tool sees the same change in run r."""
    files = list_files(root)
    dirs = list_dirs(root)
    n = len(files)
    n_mod = max(1, round(n * percent / 100))
    n_del = max(1, round(n * percent / 200))
    n_add = max(1, round(n * percent / 200))
    rng = random.Random(seed * 1_000_033 + 7)
    chosen = rng.sample(files, min(n, n_mod + n_del))
    modified, deleted = chosen[:n_mod], chosen[n_mod:]
    for i, rel in enumerate(modified):
        path = os.path.join(root, rel)
        old = os.path.getsize(path)
        size = old if (i % 2 == 0 or old > SMALL_HI) else _small_size(rng)
        _write(path, rng.randbytes(size), CHANGE_MTIME0 + seed * 10_000 + i)
    for rel in deleted:
        os.unlink(os.path.join(root, rel))
    for i in range(n_add):
        rel = os.path.join(rng.choice(dirs), f"added-s{seed}-{i:04d}.bin")
        _write(os.path.join(root, rel), rng.randbytes(_small_size(rng)),
               CHANGE_MTIME0 + seed * 10_000 + 5_000 + i)
    return {"modified": len(modified), "deleted": len(deleted), "added": n_add}
