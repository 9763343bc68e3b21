"""Does the server's copy equal the source? Names (files and directories), sizes, bytes,
and file mtimes compared to the second."""
import os


def _same_bytes(a, b, chunk=1 << 20):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(chunk), fb.read(chunk)
            if x != y:
                return False
            if not x:
                return True


def _walk(root):
    dirs, files = set(), {}
    for base, dnames, fnames in os.walk(root):
        rel = os.path.relpath(base, root)
        for d in dnames:
            dirs.add(os.path.normpath(os.path.join(rel, d)))
        for f in fnames:
            files[os.path.normpath(os.path.join(rel, f))] = os.lstat(os.path.join(base, f))
    return dirs, files


def compare_trees(src, dst):
    """Return a dict: ok (bool), counts per kind of difference, and a few examples."""
    res = {"ok": False, "missing": 0, "extra": 0, "dirs_missing": 0, "dirs_extra": 0,
           "size": 0, "bytes": 0, "mtime": 0, "examples": []}
    if not os.path.isdir(dst):
        res["examples"].append(f"dest {dst} does not exist")
        return res
    sdirs, sfiles = _walk(src)
    ddirs, dfiles = _walk(dst)
    ex = res["examples"]

    def note(kind, what):
        res[kind] += 1
        if len(ex) < 6:
            ex.append(f"{kind}: {what}")

    for d in sorted(sdirs - ddirs):
        note("dirs_missing", d)
    for d in sorted(ddirs - sdirs):
        note("dirs_extra", d)
    for rel in sorted(set(dfiles) - set(sfiles)):
        note("extra", rel)
    for rel, s in sorted(sfiles.items()):
        t = dfiles.get(rel)
        if t is None:
            note("missing", rel)
            continue
        if s.st_size != t.st_size:
            note("size", f"{rel} {s.st_size} != {t.st_size}")
            continue
        if not _same_bytes(os.path.join(src, rel), os.path.join(dst, rel)):
            note("bytes", rel)
        if int(s.st_mtime) != int(t.st_mtime):
            note("mtime", f"{rel} {int(s.st_mtime)} != {int(t.st_mtime)}")
    res["ok"] = not any(res[k] for k in ("missing", "extra", "dirs_missing", "dirs_extra",
                                          "size", "bytes", "mtime"))
    return res


def describe(res):
    if res["ok"]:
        return "equal"
    parts = [f"{k} {res[k]}" for k in ("missing", "extra", "dirs_missing", "dirs_extra",
                                       "size", "bytes", "mtime") if res[k]]
    return ", ".join(parts) or "; ".join(res["examples"])
