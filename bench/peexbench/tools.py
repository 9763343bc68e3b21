"""The contenders: how each tool is invoked, and a measured run of one of them.

Every tool is started directly (argv, no shell) as a child of the benchmark, so the
wall time is the child's lifetime (perf_counter around spawn..reap) and the peak RSS is
the child's own ru_maxrss from wait4() (neither lftp, rclone nor peex run helper programs,
so it is the tool's RSS, not a shell's)."""
import os
import shlex
import subprocess
import threading
import time

TOOL_NAMES = ("peex-j8", "lftp-p8", "rclone-t8", "peex-j1", "lftp-p1", "rclone-t1")


class Tool:
    def __init__(self, name):
        if name not in TOOL_NAMES:
            raise ValueError(f"unknown tool {name!r} (known: {', '.join(TOOL_NAMES)})")
        self.name = name
        self.family, n = name.split("-")
        self.conns = int(n[1:])

    def argv(self, ctx):
        """ctx: host, port, user, password, src (ends with /), dest (/dst), peex_bin,
        peex_cfg, rclone_pass (obscured)."""
        c = ctx
        if self.family == "peex":
            return [c["peex_bin"], "-q", "-j", str(self.conns), c["peex_cfg"]]
        if self.family == "lftp":
            script = (f"open -u {c['user']},{c['password']} ftp://{c['host']}:{c['port']}; "
                      f"mirror -R --delete --parallel={self.conns} "
                      f"{shlex.quote(c['src'])} {shlex.quote(c['dest'])}")
            return ["lftp", "-c", script]
        return ["rclone", "sync", c["src"], f":ftp:{c['dest']}",
                "--ftp-host", c["host"], "--ftp-port", str(c["port"]),
                "--ftp-user", c["user"], "--ftp-pass", c["rclone_pass"],
                "--transfers", str(self.conns), "--checkers", str(self.conns)]

    def display(self, ctx):
        """The command line as printed in reports (password placeholders, generic paths)."""
        shown = []
        for a in self.argv(ctx):
            a = a.replace(ctx["rclone_pass"], "$(rclone obscure peex)")
            a = a.replace(ctx["src"], "SRC/").replace(ctx["peex_cfg"], "SITE.peex")
            a = a.replace(ctx["peex_bin"], "peex")
            shown.append(a)
        return " ".join(shlex.quote(a) for a in shown)


def measure(argv, env, log_path, timeout):
    """Run argv; return (wall_seconds, peak_rss_kib, exit_code, timed_out)."""
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        expired = threading.Event()

        def kill():
            expired.set()
            try:
                os.killpg(proc.pid, 9)          # the tool's own process group only
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode, expired.is_set()
