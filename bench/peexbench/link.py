"""A private link with simulated latency: network namespace NS holding the server,
host side OUTER_IF/HOST_ADDR <-> namespace side INNER_IF/NS_ADDR (link-local /30 that
exists only on this machine). Kernel netem on a veth pair when the kernel has sch_netem,
else two TUN devices joined by bench/delaywire.c (compiled with cc into the run dir).
Round trip = 2 x one-way delay either way."""
import os
import socket
import statistics
import subprocess
import time

# PEEX_BENCH_LINK=N (1-9) gives a second link beside the first (its own namespace,
# interfaces and addresses), for trying a build while a long benchmark holds the first.
_N = os.environ.get("PEEX_BENCH_LINK", "")
_N = _N if _N.isdigit() and 0 < int(_N) < 10 else ""
NS = f"pxbench{_N}"
OUTER_IF, INNER_IF = f"pxb{_N}0", f"pxb{_N}1"
HOST_ADDR, NS_ADDR = (f"169.254.{78 + int(_N or 0)}.1", f"169.254.{78 + int(_N or 0)}.2")


def _ip(*args, check=True):
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check)


def _ns_exists():
    return NS in _ip("netns", "list", check=False).stdout.split()


class LatencyLink:
    def __init__(self, rtt_ms, bench_dir, run_dir, log=print):
        self.rtt_ms = rtt_ms
        self.one_way_us = int(round(rtt_ms * 1000 / 2))
        self.bench_dir, self.run_dir, self.log = bench_dir, run_dir, log
        self.kind = None
        self.wire = None
        self.measured_rtt_ms = None

    # -- setup ---------------------------------------------------------------------------
    def up(self):
        if _ns_exists():                  # left over by an interrupted run of this benchmark
            self.log(f"link: removing stale netns {NS}")
            self._teardown()
        _ip("netns", "add", NS)
        _ip("-n", NS, "link", "set", "lo", "up")
        try:
            if not self._try_netem():
                self._start_wire()
            _ip("addr", "add", f"{HOST_ADDR}/30", "dev", OUTER_IF)
            _ip("link", "set", OUTER_IF, "mtu", "1500", "up")
            _ip("-n", NS, "addr", "add", f"{NS_ADDR}/30", "dev", INNER_IF)
            _ip("-n", NS, "link", "set", INNER_IF, "mtu", "1500", "up")
            time.sleep(0.2)
            self.measured_rtt_ms = self.probe_rtt()
        except Exception:
            self.down()
            raise
        self.log(f"link: {self.kind}, {self.rtt_ms} ms RTT requested, measured "
                 f"{self.measured_rtt_ms:.1f} ms (TCP connect->RST to {NS_ADDR})")
        return self

    def _try_netem(self):
        r = _ip("link", "add", OUTER_IF, "type", "veth", "peer", "name", INNER_IF, "netns", NS,
                check=False)
        if r.returncode != 0:
            self.log(f"link: no veth ({r.stderr.strip()}); using delaywire")
            return False
        delay = f"{self.one_way_us}us"
        a = subprocess.run(["tc", "qdisc", "add", "dev", OUTER_IF, "root", "netem", "delay", delay,
                            "limit", "100000"], capture_output=True, text=True)
        b = a if a.returncode else subprocess.run(
            ["ip", "netns", "exec", NS, "tc", "qdisc", "add", "dev", INNER_IF, "root", "netem",
             "delay", delay, "limit", "100000"], capture_output=True, text=True)
        if a.returncode == 0 and b.returncode == 0:
            self.kind = "kernel netem on veth"
            return True
        self.log(f"link: kernel netem unavailable ({(a.stderr or b.stderr).strip()}); "
                 "using the userland delaywire relay")
        _ip("link", "del", OUTER_IF, check=False)
        return False

    def _start_wire(self):
        src = os.path.join(self.bench_dir, "delaywire.c")
        exe = os.path.join(self.run_dir, "delaywire")
        if not os.path.exists(exe) or os.path.getmtime(src) > os.path.getmtime(exe):
            os.makedirs(self.run_dir, exist_ok=True)
            subprocess.run(["cc", "-O2", "-Wall", "-o", exe, src], check=True)
        self.wire_log = open(os.path.join(self.run_dir, "delaywire.log"), "wb")
        self.wire = subprocess.Popen([exe, OUTER_IF, f"/run/netns/{NS}", INNER_IF,
                                      str(self.one_way_us)], stdout=subprocess.PIPE,
                                     stderr=self.wire_log, stdin=subprocess.DEVNULL)
        line = self.wire.stdout.readline().decode()
        if not line.startswith("ready"):
            self.wire.wait()
            raise RuntimeError("delaywire failed; see " + self.wire_log.name)
        for name in (OUTER_IF,):
            subprocess.run(["sysctl", "-qw", f"net.ipv6.conf.{name}.disable_ipv6=1"],
                           capture_output=True)
        subprocess.run(["ip", "netns", "exec", NS, "sysctl", "-qw",
                        f"net.ipv6.conf.{INNER_IF}.disable_ipv6=1"], capture_output=True)
        self.kind = "userland delaywire (TUN pair)"

    def probe_rtt(self, n=7):
        """Time a TCP connect to a closed port inside the namespace: SYN out, RST back = 1 RTT."""
        samples = []
        for _ in range(n):
            s = socket.socket()
            s.settimeout(5)
            t0 = time.perf_counter()
            try:
                s.connect((NS_ADDR, 9))
            except OSError:
                pass
            samples.append((time.perf_counter() - t0) * 1000)
            s.close()
        return statistics.median(samples)

    # -- teardown ------------------------------------------------------------------------
    def down(self):
        self._teardown()

    def _teardown(self):
        if self.wire is not None:
            if self.wire.poll() is None:
                self.wire.terminate()
                try:
                    self.wire.wait(5)
                except subprocess.TimeoutExpired:
                    self.wire.kill()
                    self.wire.wait()
            self.wire = None
        if _ns_exists():
            # only processes of this benchmark live in its namespace (its proftpd)
            for pid in _ip("netns", "pids", NS, check=False).stdout.split():
                try:
                    os.kill(int(pid), 15)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("link", "del", OUTER_IF, check=False)
            _ip("netns", "del", NS, check=False)
        else:
            _ip("link", "del", OUTER_IF, check=False)
