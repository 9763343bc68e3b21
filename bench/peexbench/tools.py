"""The contenders: how each tool is invoked, and a measured run of one of them.

Every tool runs as `/usr/bin/time -f %M -o FILE TOOL ARGS...` (argv, no shell): the wall
time is perf_counter around spawn..reap of that child, the peak RSS is what GNU time
reports for its own direct child, the tool (its wait4 ru_maxrss). Why not wait4 on the
tool from Python directly: Python starts children with vfork(), and Linux charges the
RSS high-water mark of the mm being replaced at exec() to the child's maxrss, so every
tool would report at least the Python process's own RSS. GNU time forks from a ~1 MiB
process, so the figure is the tool's own."""
import os
import shlex
import subprocess
import threading
import time

TIME_BIN = "/usr/bin/time"
TOOL_NAMES = ("peex-j8", "lftp-p8", "rclone-t8", "peex-j1", "lftp-p1", "rclone-t1", "rsync-c1")


class Tool:
    def __init__(self, name):
        if name not in TOOL_NAMES:
            raise ValueError(f"unknown tool {name!r} (known: {', '.join(TOOL_NAMES)})")
        self.name = name
        self.family, n = name.split("-")
        self.conns = int(n[1:])

    def argv(self, ctx):
        """ctx: proto (ftp or sftp), host, port, user, password, src (ends with /), dest
        (/dst, or the absolute served path for sftp), peex_bin, peex_cfg, rclone_pass
        (obscured); for sftp also key (private key file) and known_hosts."""
        c = ctx
        if c.get("proto") == "sftp":
            return self.sftp_argv(c)
        if self.family == "rsync":
            raise ValueError("rsync-c1 needs --proto sftp (it runs over ssh)")
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

    def sftp_argv(self, c):
        # lftp gives the port to its connect-program itself
        ssh_opts = (f"-a -x -i {c['key']} -o UserKnownHostsFile={c['known_hosts']} "
                    "-o StrictHostKeyChecking=yes -o BatchMode=yes")
        if self.family == "peex":
            return [c["peex_bin"], "-q", "-j", str(self.conns), c["peex_cfg"]]
        if self.family == "lftp":
            script = (f"set sftp:connect-program {shlex.quote('ssh ' + ssh_opts)}; "
                      f"open -u {c['user']}, sftp://{c['host']}:{c['port']}; "
                      f"mirror -R --delete --parallel={self.conns} "
                      f"{shlex.quote(c['src'])} {shlex.quote(c['dest'])}")
            return ["lftp", "-c", script]
        if self.family == "rsync":
            return ["rsync", "-a", "--delete", "-e", f"ssh -p {c['port']} {ssh_opts}", c["src"],
                    f"{c['user']}@{c['host']}:{c['dest']}/"]
        return ["rclone", "sync", c["src"], f":sftp:{c['dest']}",
                "--sftp-host", c["host"], "--sftp-port", str(c["port"]),
                "--sftp-user", c["user"], "--sftp-key-file", c["key"],
                "--sftp-known-hosts-file", c["known_hosts"],
                "--transfers", str(self.conns), "--checkers", str(self.conns)]

    def display(self, ctx):
        """The command line as printed in reports (password placeholders, generic paths)."""
        shown = []
        for a in self.argv(ctx):
            a = a.replace(ctx["rclone_pass"], "$(rclone obscure peex)")
            a = a.replace(ctx["src"], "SRC/").replace(ctx["peex_cfg"], "SITE.peex")
            a = a.replace(ctx["peex_bin"], "peex")
            for k, shown_as in (("key", "KEY"), ("known_hosts", "KNOWN_HOSTS"),
                                ("dest", "DEST")):
                if ctx.get(k) and ctx.get("proto") == "sftp":
                    a = a.replace(ctx[k], shown_as)
            shown.append(a)
        return " ".join(shlex.quote(a) for a in shown)


def measure(argv, env, log_path, timeout):
    """Run argv under /usr/bin/time; return (wall_seconds, peak_rss_kib, exit_code, timed_out)."""
    rss_file = log_path + ".rss"
    with open(log_path, "wb") as log:
        t0 = time.perf_counter()
        proc = subprocess.Popen([TIME_BIN, "-f", "%M", "-o", rss_file, *argv], env=env,
                                stdout=log, stderr=subprocess.STDOUT,
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
            _, status, _usage = os.wait4(proc.pid, 0)
        except BaseException:                   # interrupted: do not leave the tool running
            kill()
            os.wait4(proc.pid, 0)
            raise
        finally:
            timer.cancel()
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
    rss = 0
    try:
        with open(rss_file) as f:
            # GNU time writes "Command exited with non-zero status N" first when rc != 0
            rss = int(f.read().split()[-1])
    except (OSError, ValueError, IndexError):
        pass
    return wall, rss, proc.returncode, expired.is_set()
