"""Facts about the machine and the contenders for the report header."""
import os
import platform
import subprocess


def _first_line(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        return ((r.stdout or r.stderr).strip().splitlines() or ["?"])[0]
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"


def git_rev(repo):
    """HEAD commit of the repository, read from .git without running git."""
    gd = os.path.join(repo, ".git")
    try:
        if os.path.isfile(gd):                       # worktree: "gitdir: PATH"
            gd = open(gd).read().split(":", 1)[1].strip()
        head = open(os.path.join(gd, "HEAD")).read().strip()
        if not head.startswith("ref:"):
            return head[:12]
        ref = head[4:].strip()
        p = os.path.join(gd, ref)
        if os.path.exists(p):
            return f"{open(p).read().strip()[:12]} ({ref.rsplit('/', 1)[-1]})"
        common = os.path.join(gd, "commondir")
        roots = [gd] + ([os.path.join(gd, open(common).read().strip())] if os.path.exists(common) else [])
        for root in roots:
            packed = os.path.join(root, "packed-refs")
            if os.path.exists(os.path.join(root, ref)):
                return f"{open(os.path.join(root, ref)).read().strip()[:12]} ({ref.rsplit('/', 1)[-1]})"
            if os.path.exists(packed):
                for line in open(packed):
                    if line.strip().endswith(" " + ref):
                        return f"{line.split()[0][:12]} ({ref.rsplit('/', 1)[-1]})"
        return f"unborn ({ref})"
    except OSError as e:
        return f"unknown ({e})"


def fingerprint(path):
    """First 12 hex digits of the file's sha256 (to notice a rebuild during a run)."""
    import hashlib
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()[:12]
    except OSError:
        return "missing"


def collect(repo, peex_bin):
    return {
        "nproc": os.cpu_count(),
        "kernel": platform.release(),
        "proftpd": _first_line(["proftpd", "-v"]),
        "lftp": _first_line(["lftp", "--version"]).split("|")[1].strip()
        if "|" in _first_line(["lftp", "--version"]) else _first_line(["lftp", "--version"]),
        "rclone": _first_line(["rclone", "version"]),
        "peex": f"{_first_line([peex_bin, '--version'])}, git {git_rev(repo)}",
        "python": platform.python_version(),
    }
