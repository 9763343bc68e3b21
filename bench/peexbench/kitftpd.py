"""Pure-FTPd and vsftpd for the benchmark, from the test kit (`scripts/testkit` unpacks
Debian's packages into target/testkit/; they conflict with proftpd-basic as packages).

Same interface as peexbench.ftpd.ProFtpd (start, wait_idle, log_size, read_log, stop, proc,
user, password). Neither writes a command log in proftpd's format, so the per-phase command
counts of the report are empty for them (read_log returns "")."""
import os
import socket
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KIT = os.environ.get("PEEX_TESTKIT", os.path.join(REPO, "target", "testkit"))
VSFTPD_USER = "peexftp"                      # the system user of the test kit (uid 2121)
KIT_PASS = "peex-ftp-Test-pw"


def kit_program(pkg, rel):
    p = os.path.join(KIT, pkg, rel)
    if not os.path.exists(p):
        raise SystemExit(f"run.py: {p} missing: run scripts/testkit "
                         f"(apt-get download {pkg}; dpkg -x)")
    return p


def sha512_crypt(password):
    out = subprocess.run(["openssl", "passwd", "-6", "-salt", "peexbench", password],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


class _KitServer:
    name = "?"

    def __init__(self, run_dir, served_dir, addr, port, uid=2121, netns=None,
                 pasv=(40000, 49999)):
        self.run = os.path.abspath(run_dir)
        self.served = os.path.abspath(served_dir)
        self.addr, self.port, self.uid, self.netns, self.pasv = addr, port, uid, netns, pasv
        self.proc = None

    def _spawn(self, argv):
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        out = open(os.path.join(self.run, "server.out"), "wb")
        self.proc = subprocess.Popen(prefix + argv, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection((self.addr, self.port), timeout=1) as s:
                    if s.recv(3) == b"220":
                        self.wait_idle()
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        log = open(os.path.join(self.run, "server.out"), errors="replace").read()[-2000:]
        raise RuntimeError(f"{self.name} did not come up on {self.addr}:{self.port}:\n{log}")

    def sessions(self):
        """Pids of processes below our master (its sessions), still alive."""
        if not self.proc:
            return []
        pids, found = {self.proc.pid}, []
        for _ in range(3):
            for ent in os.listdir("/proc"):
                if not ent.isdigit() or int(ent) in pids:
                    continue
                try:
                    with open(f"/proc/{ent}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                except (OSError, ValueError, IndexError):
                    continue
                if ppid in pids:
                    pids.add(int(ent))
                    found.append(int(ent))
        return found

    def wait_idle(self, timeout=20.0):
        deadline = time.time() + timeout
        quiet = 0
        while time.time() < deadline:
            quiet = quiet + 1 if not self.sessions() else 0
            if quiet >= 5:
                return True
            time.sleep(0.03)
        return False

    def log_size(self):
        return 0

    def read_log(self, start):
        return ""

    def stop(self):
        if not self.proc:
            return
        try:
            os.killpg(self.proc.pid, 15)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.proc = None


class PureFtpd(_KitServer):
    name = "pure-ftpd"
    user, password = "peex", KIT_PASS

    def start(self):
        os.makedirs(self.run, exist_ok=True)
        os.makedirs(self.served, exist_ok=True)
        os.chown(self.served, self.uid, self.uid)
        passwd, pdb = os.path.join(self.run, "pureftpd.passwd"), os.path.join(self.run, "pureftpd.pdb")
        # pure-pw's own argon2id hash costs seconds per login: a SHA-512 crypt hash instead
        with open(passwd, "w") as f:
            f.write(f"{self.user}:{sha512_crypt(self.password)}:{self.uid}:{self.uid}::"
                    f"{self.served}/./::::::::::::\n")
        os.chmod(passwd, 0o600)
        subprocess.run([kit_program("pure-ftpd", "usr/bin/pure-pw"), "mkdb", pdb, "-f", passwd],
                       check=True, capture_output=True)
        return self._spawn([kit_program("pure-ftpd", "usr/sbin/pure-ftpd"),
                            "-S", f"{self.addr},{self.port}", "-l", f"puredb:{pdb}", "-E", "-H",
                            "-A", "-p", f"{self.pasv[0]}:{self.pasv[1]}", "-c", "300",
                            "-C", "300"])


class Vsftpd(_KitServer):
    name = "vsftpd"
    user, password = VSFTPD_USER, KIT_PASS

    def start(self):
        os.makedirs(self.run, exist_ok=True)
        os.makedirs(self.served, exist_ok=True)
        os.chown(self.served, self.uid, self.uid)
        script = (
            "set -e; home=/var/lib/peex-ftp-test; mkdir -p $home; "
            f"id -u {VSFTPD_USER} >/dev/null 2>&1 || {{ groupadd -o -g {self.uid} {VSFTPD_USER} "
            f"2>/dev/null || true; useradd -o -u {self.uid} -g {self.uid} -M -d $home "
            f"-s /usr/sbin/nologin {VSFTPD_USER}; }}; "
            f"echo '{VSFTPD_USER}:{KIT_PASS}' | chpasswd; "
            "printf 'auth required pam_unix.so\\naccount required pam_unix.so\\n"
            "session required pam_permit.so\\n' > /etc/pam.d/peex-ftp-test")
        subprocess.run(["flock", "/tmp/peex-ftp-test-user.lock", "sh", "-c", script], check=True)
        empty = os.path.join(self.run, "empty")
        os.makedirs(empty, exist_ok=True)
        os.chmod(empty, 0o555)
        conf = os.path.join(self.run, "vsftpd.conf")
        with open(conf, "w") as f:
            f.write(f"""listen=YES
listen_ipv6=NO
listen_address={self.addr}
listen_port={self.port}
background=NO
seccomp_sandbox=NO
anonymous_enable=NO
local_enable=YES
write_enable=YES
local_umask=022
chroot_local_user=YES
allow_writeable_chroot=YES
local_root={self.served}
secure_chroot_dir={empty}
pam_service_name=peex-ftp-test
pasv_enable=YES
pasv_min_port={self.pasv[0]}
pasv_max_port={self.pasv[1]}
max_clients=300
max_per_ip=300
use_localtime=NO
mdtm_write=YES
xferlog_enable=NO
syslog_enable=NO
idle_session_timeout=900
""")
        os.chmod(conf, 0o600)
        return self._spawn([kit_program("vsftpd", "usr/sbin/vsftpd"), conf])


SERVERS = {"pure-ftpd": PureFtpd, "vsftpd": Vsftpd}
