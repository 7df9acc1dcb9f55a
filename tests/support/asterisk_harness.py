"""Helpers that drive a real Asterisk 22 (in a Debian sid chroot) and SIPp for integration tests.

Nothing here is a test. Typical use::

    from tests.support import asterisk_harness as h
    h.start_asterisk()                     # raises AsteriskUnavailable if the chroot cannot be built
    with h.AmiRecorder("/tmp/x.ami") as rec:
        h.scenario_ringall_answered(ami)
        rec.wait_for_quiet(1.0)
    h.stop_asterisk()

Every `start_asterisk()` starts its own Asterisk, isolated from any other Asterisk on the machine
(another test run's, a helper's, a real PBX on 127.0.0.1:5038): it takes a free loopback network
127.N.0.0/24 (held with a lock file for as long as it runs), and its copy of asterisk_conf/ is rewritten to
use it: Asterisk SIP and AMI on 127.N.0.1, the provider trunk SIPp on 127.N.0.2 (a second provider, named
like VoIPGRID's trunks, on 127.N.0.3), phones 101..104 on 127.N.0.101..104 (see asterisk_conf/pjsip.conf
and tests/support/asterisk_conf_extra/ for the test-only phones). Its configuration, run, spool, log and
database directories in the chroot are its own, its AMI secret is random, and before it is used the harness
checks that the AMI it reaches is that very instance (its pid file, a login with its secret). The chroot
shares the host's network namespace, so SIPp inside it can bind any 127.x.y.z address.

The addresses below are module attributes set by `start_asterisk()`; read them as ``h.AMI_HOST`` etc.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pbx.originate import originate_action
from tests.support import paths

REPO = paths.REPO
SCRIPT = REPO / "scripts" / "asterisk-chroot.sh"
CONF_DIR = REPO / "asterisk_conf"
# Test-only endpoints and dialplan appended to the copied configuration (same file names).
EXTRA_CONF_DIR = REPO / "tests" / "support" / "asterisk_conf_extra"
SIPP_DIR = REPO / "tests" / "sipp"
FIXTURES_DIR = paths.AMI_CAPTURES
LOCK_DIR = Path(tempfile.gettempdir())

AMI_PORT = 5038
AMI_USER = "kolokol"
# Set by start_asterisk() for the instance it started (these are the shipped configuration's values).
AMI_HOST = "127.0.0.1"
AMI_SECRET = "kolokol-test-secret"
ASTERISK_SIP = "127.0.0.1:5060"
TRUNK_IP = "127.0.0.2"
PROVIDER_IP = "127.0.0.3"  # the trunk "voipgrid-siproute" (tests/support/asterisk_conf_extra/pjsip.conf)
_PHONE_HOSTS = {
    "101": 101,
    "102": 102,
    "103": 103,
    "104": 104,
    "107": 107,  # forwards every call with 302 (uas_forward)
    "150010001": 111,  # phones named by account codes, known as 201 and 202
    "150010002": 112,
}
PHONE_IP = {ext: f"127.0.0.{host}" for ext, host in _PHONE_HOSTS.items()}

DID_RINGALL = "74951110001"
DID_QUEUE = "74951110002"
DID_IVR = "74951110003"
DID_103 = "74951110004"
DID_DND = "74951110005"  # 105 is on do-not-disturb: the dialplan answers Busy() without ringing it
DID_ACCOUNTS = "74951110006"  # ring group of the account-code phones 150010001 & 150010002
DID_UNREACHABLE = "74951110007"  # 106 has no contact: Dial gets CHANUNAVAIL
DID_FORWARD = "74951110008"  # 107 forwards to 103 with 302
DID_RINGALL_UNREACHABLE = "74951110009"  # 106 (unreachable) & 104
RINGGROUP_EXT = "600"  # asterisk_conf/extensions.conf: 101 & 102 ring together
QUEUE_EXT = "601"  # asterisk_conf/extensions.conf: the queue "reception"
CLINIC_NUMBER = "74951110000"
CALLER_NUM = "79161234567"
CALLER_NAME = "Иван Петров"
OUTSIDE_NUMBER = "89161234567"

# Path inside the chroot where the SIPp scenarios are copied (per instance, set by start_asterisk()).
CHROOT_SIPP_DIR = "/tmp/kolokol-sipp"


def kolokol_ami_settings() -> dict[str, str | int]:
    """kolokol's ``[pbx.asterisk]`` for this harness's Asterisk (its least-privilege AMI user)."""
    return {"host": AMI_HOST, "port": AMI_PORT, "username": AMI_USER, "secret": AMI_SECRET}


class AsteriskUnavailable(RuntimeError):
    """The Asterisk chroot cannot be built here (e.g. the Debian mirror could not deliver the packages)."""


class HarnessError(RuntimeError):
    pass


# --------------------------------------------------------------------------------------------- chroot


def chroot_path() -> Path:
    return Path(os.environ.get("KOLOKOL_CHROOT", "/var/cache/kolokol/sid-asterisk"))


def _script(*args: str, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def build_chroot() -> None:
    """Build the chroot if needed. Exit status 3 from the script means the mirror lacks Asterisk."""
    res = _script("build")
    if res.returncode == 3:
        raise AsteriskUnavailable(res.stderr.strip() or "the mirror could not deliver asterisk/sip-tester")
    if res.returncode != 0:
        raise AsteriskUnavailable(f"asterisk chroot build failed ({res.returncode}): {res.stderr.strip()}")


@dataclass
class Instance:
    """One harness Asterisk: its loopback network 127.<net>.0.0/24 and its own directories."""

    net: int
    lock: IO[bytes]
    secret: str

    def ip(self, host: int) -> str:
        return f"127.{self.net}.0.{host}"

    @property
    def name(self) -> str:
        return f"kolokol-n{self.net}"

    @property
    def etc(self) -> str:
        # Not under "/etc/asterisk.kolokol": older harnesses stopped whatever matched that prefix.
        return f"/etc/{self.name}-asterisk"

    def directories(self) -> dict[str, str]:
        return {
            "astetcdir": self.etc,
            "astrundir": f"/run/asterisk.{self.name}",
            "astspooldir": f"/var/spool/asterisk.{self.name}",
            "astlogdir": f"/var/log/asterisk.{self.name}",
            "astdbdir": f"/var/lib/asterisk.{self.name}",
            "astcachedir": f"/var/cache/asterisk.{self.name}",
        }


_instance: Instance | None = None


def current() -> Instance:
    if _instance is None:
        raise HarnessError("no harness Asterisk is running: call start_asterisk() first")
    return _instance


def _tcp_open(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False


def _addresses_free(instance: Instance) -> bool:
    if _tcp_open(instance.ip(1), AMI_PORT):
        return False
    hosts = [1, 2, 3, *_PHONE_HOSTS.values()]
    return not any(udp_bound(instance.ip(host)) for host in hosts)


def _claim_instance() -> Instance:
    """A loopback network nobody uses, locked for this process (the lock dies with the process)."""
    first = 20 + os.getpid() % 230
    for offset in range(230):
        net = 20 + (first - 20 + offset) % 230
        lock = open(LOCK_DIR / f"kolokol-asterisk-127.{net}.lock", "wb")  # noqa: SIM115 - held until stop
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            continue
        instance = Instance(net, lock, secrets.token_hex(16))
        # An Asterisk of this very instance left behind by a run that died (nobody holds its lock).
        _script("stop", instance.etc, timeout=60)
        if _addresses_free(instance):
            return instance
        lock.close()  # somebody else (not a harness) uses these addresses
    raise AsteriskUnavailable("no free loopback network 127.N.0.0/24 for a test Asterisk")


def _rewrite_conf(src: Path, extra: Path, instance: Instance) -> Path:
    """A copy of the configuration, moved to the instance's addresses, directories and secret."""
    dest = Path(tempfile.mkdtemp(prefix=f"{instance.name}-conf-"))
    for f in src.iterdir():
        if f.is_file():
            shutil.copyfile(f, dest / f.name)
    for f in extra.glob("*.conf") if extra.is_dir() else ():
        with open(dest / f.name, "a", encoding="utf-8") as out:
            out.write("\n" + f.read_text(encoding="utf-8"))
    loopback = re.compile(r"127\.0\.0\.(\d+)")
    for name in ("pjsip.conf", "manager.conf"):
        path = dest / name
        path.write_text(loopback.sub(rf"127.{instance.net}.0.\1", path.read_text(encoding="utf-8")))
    manager = dest / "manager.conf"
    text = manager.read_text(encoding="utf-8")
    text = re.sub(r"(?m)^secret\s*=.*$", f"secret = {instance.secret}", text)
    # kolokol connects from 127.0.0.1 (the loopback route's source address) to 127.N.0.1.
    text = re.sub(r"(?m)^permit\s*=.*$", "permit = 127.0.0.0/255.0.0.0", text)
    manager.write_text(text, encoding="utf-8")
    main = dest / "asterisk.conf"
    text = main.read_text(encoding="utf-8")
    for key, value in instance.directories().items():
        text = re.sub(rf"(?m)^{key}\s*=>.*$", f"{key} => {value}", text)
    main.write_text(text, encoding="utf-8")
    return dest


def _use(instance: Instance | None) -> None:
    """Point the module's addresses at `instance` (None: back to the shipped configuration's)."""
    global _instance, AMI_HOST, AMI_SECRET, ASTERISK_SIP, TRUNK_IP, PROVIDER_IP, CHROOT_SIPP_DIR
    _instance = instance
    net = instance.net if instance is not None else 0
    AMI_HOST = f"127.{net}.0.1"
    AMI_SECRET = instance.secret if instance is not None else "kolokol-test-secret"
    ASTERISK_SIP = f"127.{net}.0.1:5060"
    TRUNK_IP = f"127.{net}.0.2"
    PROVIDER_IP = f"127.{net}.0.3"
    PHONE_IP.clear()
    PHONE_IP.update({ext: f"127.{net}.0.{host}" for ext, host in _PHONE_HOSTS.items()})
    CHROOT_SIPP_DIR = f"/tmp/kolokol-sipp-n{net}" if instance is not None else "/tmp/kolokol-sipp"


def start_asterisk(conf_dir: Path | str = CONF_DIR) -> None:
    """Build the chroot if needed and start this run's own Asterisk with a rewritten copy of conf_dir."""
    if os.geteuid() != 0:
        raise AsteriskUnavailable("the Asterisk chroot needs root (chroot/mount)")
    if _instance is not None:
        stop_asterisk()
    build_chroot()
    instance = _claim_instance()
    conf = _rewrite_conf(Path(conf_dir), EXTRA_CONF_DIR, instance)
    try:
        res = _script("start", str(conf), timeout=120)
    finally:
        shutil.rmtree(conf, ignore_errors=True)
    if res.returncode != 0:
        _script("stop", instance.etc, timeout=60)
        instance.lock.close()
        if res.returncode == 3:
            raise AsteriskUnavailable(res.stderr.strip())
        raise HarnessError(f"asterisk did not start ({res.returncode}): {res.stderr.strip()}")
    _use(instance)
    try:
        _verify_own_instance(instance)
    except BaseException:
        stop_asterisk()
        raise


def _verify_own_instance(instance: Instance) -> None:
    """What the tests will talk to is this instance: its pid file names a live Asterisk started with its
    configuration, and its AMI takes this instance's random secret."""
    pid = _script("pid", instance.etc, timeout=30)
    if pid.returncode != 0 or not pid.stdout.strip().isdigit():
        raise HarnessError(f"the harness Asterisk ({instance.etc}) is not running after start")
    _wait_ami_port(20)
    with socket.create_connection((AMI_HOST, AMI_PORT), timeout=10) as sock:
        _login(sock, "off")


def stop_asterisk() -> None:
    instance = _instance
    if instance is None:
        return
    try:
        _script("stop", instance.etc, timeout=60)
    finally:
        _use(None)
        instance.lock.close()


def asterisk_cli(command: str) -> str:
    res = _script(
        "run", "/usr/sbin/asterisk", "-C", f"{current().etc}/asterisk.conf", "-rx", command, timeout=30
    )
    return res.stdout


def _wait_ami_port(timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _tcp_open(AMI_HOST, AMI_PORT):
            return
        time.sleep(0.2)
    raise HarnessError(f"AMI port {AMI_HOST}:{AMI_PORT} never opened")


# ----------------------------------------------------------------------------------------------- SIPp


def _sync_scenarios() -> None:
    dest = chroot_path() / CHROOT_SIPP_DIR.lstrip("/")
    dest.mkdir(parents=True, exist_ok=True)
    for f in SIPP_DIR.glob("*.xml"):
        target = dest / f.name
        content = f.read_bytes()
        if target.exists() and target.read_bytes() == content:
            continue
        # Atomically: a SIPp started a moment ago may be reading the file right now.
        partial = target.with_name(f".{f.name}.{os.getpid()}.{threading.get_ident()}")
        partial.write_bytes(content)
        os.replace(partial, target)


class Sipp:
    """One SIPp process running inside the chroot (its own process group, so it can be killed)."""

    def __init__(self, scenario: str, args: list[str], log_name: str) -> None:
        _sync_scenarios()
        name = scenario if scenario.endswith(".xml") else scenario + ".xml"
        self.log_path = chroot_path() / CHROOT_SIPP_DIR.lstrip("/") / f"sipp-{log_name}.log"
        self.cmd = [str(SCRIPT), "run", "sipp", "-sf", f"{CHROOT_SIPP_DIR}/{name}", *args]
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in wait()/stop()
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait(self, timeout: float | None = None) -> int:
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is not None:
                self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            # The wrapper shell may exit before sipp itself: make sure the whole group is gone.
            for _ in range(50):
                try:
                    os.killpg(self.proc.pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(0.1)
            else:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def run_sipp(
    scenario: str,
    *args: str,
    bind_ip: str,
    remote: str | None = None,
    timeout: float = 120,
    keys: dict[str, str] | None = None,
    port: int = 5060,
    log_name: str | None = None,
) -> Sipp:
    """Start SIPp with `scenario` (a file name in tests/sipp) bound to bind_ip:port.

    `remote` (host:port) makes it a UAC towards Asterisk; without it SIPp is a UAS waiting for calls.
    `keys` become `-key NAME VALUE`. The returned Sipp wraps the subprocess (`.proc`)."""
    sipp_args = [
        "-i",
        bind_ip,
        "-p",
        str(port),
        "-mi",
        bind_ip,
        "-nostdin",
        "-trace_err",
        "-error_file",
        f"{CHROOT_SIPP_DIR}/sipp-{log_name or bind_ip}-err.log",
        "-timeout",
        f"{int(timeout)}s",
        "-timeout_error",
    ]
    for k, v in (keys or {}).items():
        sipp_args += ["-key", k, v]
    sipp_args += list(args)
    if remote:
        sipp_args.insert(0, remote)
    return Sipp(scenario, sipp_args, log_name or f"{scenario}-{bind_ip}")


def caller(
    scenario: str,
    number: str,
    *,
    hold_ms: int = 4000,
    cid_num: str = CALLER_NUM,
    cid_name: str = CALLER_NAME,
    bind_ip: str | None = None,
    extra_keys: dict[str, str] | None = None,
    timeout: float = 120,
) -> Sipp:
    """A UAC placing one call to Asterisk (from the provider trunk by default)."""
    keys = {"cid_num": cid_num, "cid_name": cid_name, **(extra_keys or {})}
    bind_ip = bind_ip or TRUNK_IP
    return run_sipp(
        scenario,
        "-s",
        number,
        "-m",
        "1",
        "-d",
        str(hold_ms),
        bind_ip=bind_ip,
        remote=ASTERISK_SIP,
        keys=keys,
        timeout=timeout,
        log_name=f"uac-{bind_ip}",
    )


def phone(
    scenario: str,
    ext_or_ip: str,
    *,
    ring_ms: int = 2000,
    talk_ms: int = 4000,
    timeout: float = 300,
    keys: dict[str, str] | None = None,
) -> Sipp:
    """A UAS for a phone (an endpoint name of PHONE_IP) or an address (TRUNK_IP, PROVIDER_IP)."""
    ip = PHONE_IP.get(ext_or_ip, ext_or_ip)
    return run_sipp(
        scenario,
        "-d",
        str(talk_ms),
        bind_ip=ip,
        keys={"ring_ms": str(ring_ms), **(keys or {})},
        timeout=timeout,
        log_name=f"uas-{ip}",
    )


# ------------------------------------------------------------------------------------------------ AMI


def _login_bytes(events: str) -> bytes:
    return (
        f"Action: Login\r\nUsername: {AMI_USER}\r\nSecret: {AMI_SECRET}\r\nEvents: {events}\r\n\r\n"
    ).encode()


def _read_until(sock: socket.socket, buf: bytearray, marker: bytes, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while marker not in buf:
        left = deadline - time.monotonic()
        if left <= 0:
            raise HarnessError(f"AMI: timeout waiting for {marker!r}; got {bytes(buf)[:300]!r}")
        sock.settimeout(left)
        chunk = sock.recv(65536)
        if not chunk:
            raise HarnessError("AMI: connection closed")
        buf += chunk
    return buf.index(marker) + len(marker)


def _login(sock: socket.socket, events: str) -> bytes:
    """Log in; return whatever arrived after the login response (may hold the first events)."""
    buf = bytearray()
    _read_until(sock, buf, b"\r\n", 10)  # banner "Asterisk Call Manager/x.y.z"
    sock.sendall(_login_bytes(events))
    end = _read_until(sock, buf, b"\r\n\r\n", 10)
    # The first complete block after the banner is the login response.
    banner_end = buf.index(b"\r\n") + 2
    end = buf.index(b"\r\n\r\n", banner_end) + 4
    response = bytes(buf[banner_end:end])
    if b"Response: Success" not in response:
        raise HarnessError(f"AMI login failed: {response!r}")
    return bytes(buf[end:])


class AmiRecorder:
    """Raw capture of every byte AMI sends after a successful login (Events: on)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._sock = socket.create_connection((AMI_HOST, AMI_PORT), timeout=10)
        rest = _login(self._sock, "on")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()
        self._last_rx = time.monotonic()
        self._stop = threading.Event()
        if rest:
            self._write(rest)
        self._thread = threading.Thread(target=self._run, name="ami-recorder", daemon=True)
        self._thread.start()

    def _write(self, data: bytes) -> None:
        with self._lock:
            self._file.write(data)
            self._file.flush()
            self._last_rx = time.monotonic()

    def _run(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self._write(data)

    def wait_for_quiet(self, seconds: float, max_wait: float = 60) -> None:
        """Return once nothing has been received for `seconds`."""
        deadline = time.monotonic() + max_wait
        while time.monotonic() < deadline:
            with self._lock:
                idle = time.monotonic() - self._last_rx
            if idle >= seconds:
                return
            time.sleep(min(0.1, seconds - idle + 0.01))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        try:
            self._sock.close()
        finally:
            self._file.close()

    def __enter__(self) -> AmiRecorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AmiClient:
    """A second AMI session (Events: off) for actions: transfers, hangups, CoreShowChannels."""

    def __init__(self) -> None:
        self._sock = socket.create_connection((AMI_HOST, AMI_PORT), timeout=10)
        self._buf = bytearray(_login(self._sock, "off"))
        self._seq = 0

    def _next_block(self, timeout: float) -> dict[str, str]:
        end = _read_until(self._sock, self._buf, b"\r\n\r\n", timeout)
        raw = bytes(self._buf[:end]).decode("utf-8", "replace")
        del self._buf[:end]
        msg: dict[str, str] = {}
        for line in raw.split("\r\n"):
            if ": " in line:
                k, v = line.split(": ", 1)
                msg.setdefault(k, v)
        return msg

    def action(self, name: str, timeout: float = 10, **headers: str) -> list[dict[str, str]]:
        """Send an action; return the response followed by its list events (for EventList actions)."""
        self._seq += 1
        aid = f"kolokol-harness-{self._seq}"
        lines = [f"Action: {name}", f"ActionID: {aid}"] + [f"{k}: {v}" for k, v in headers.items()]
        self._sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        out: list[dict[str, str]] = []
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next_block(max(0.1, deadline - time.monotonic()))
            if msg.get("ActionID") != aid:
                continue
            out.append(msg)
            if "Response" in msg and msg.get("EventList") != "start":
                return out
            if msg.get("EventList") == "Complete" or msg.get("Event", "").endswith("Complete"):
                return out

    def channels(self) -> list[dict[str, str]]:
        return [m for m in self.action("CoreShowChannels") if m.get("Event") == "CoreShowChannel"]

    def channel_of(self, endpoint: str, timeout: float = 10) -> str:
        """Name of the (first) live channel of PJSIP endpoint `endpoint`, e.g. PJSIP/101-00000003."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ch in self.channels():
                if ch.get("Channel", "").startswith(f"PJSIP/{endpoint}-"):
                    return ch["Channel"]
            time.sleep(0.2)
        raise HarnessError(f"no channel for endpoint {endpoint}")

    def wait_channel_state(self, endpoint: str, state: str = "Up", timeout: float = 15) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for ch in self.channels():
                name = ch.get("Channel", "")
                if name.startswith(f"PJSIP/{endpoint}-") and ch.get("ChannelStateDesc") == state:
                    return name
            time.sleep(0.2)
        raise HarnessError(f"endpoint {endpoint} never reached state {state}")

    def wait_no_channels(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.channels():
                return
            time.sleep(0.3)
        left = [c.get("Channel") for c in self.channels()]
        raise HarnessError(f"channels still up after {timeout}s: {left}")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(b"Action: Logoff\r\n\r\n")
        self._sock.close()

    def __enter__(self) -> AmiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ------------------------------------------------------------------------------------------ scenarios
# Every scenario places its call(s), waits until the UAC(s) finished and no channel is left, stops the
# UAS instances and returns. Timings are chosen so events of different phases are seconds apart.


def _finish(stack: ExitStack, ami: AmiClient, uacs: list[Sipp], timeout: float = 90) -> None:
    for uac in uacs:
        try:
            uac.wait(timeout)
        except subprocess.TimeoutExpired as exc:
            uac.stop()
            raise HarnessError(f"SIPp UAC did not finish: {uac.cmd}") from exc
    ami.wait_no_channels(30)
    time.sleep(0.5)
    stack.close()


def udp_bound(ip: str, port: int = 5060) -> bool:
    """Is some process bound to ip:port/udp? (read from /proc/net/udp; never binds itself)."""
    want = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    with open("/proc/net/udp") as f:
        return any(line.split()[1] == want for line in f.readlines()[1:])


def _wait_udp(ip: str, bound: bool, timeout: float = 5, port: int = 5060) -> None:
    deadline = time.monotonic() + timeout
    while udp_bound(ip, port) != bound:
        if time.monotonic() > deadline:
            raise HarnessError(f"{ip}:{port}/udp still {'free' if bound else 'in use'} after {timeout}s")
        time.sleep(0.05)


def _uas(stack: ExitStack, scenario: str, who: str, *, keys: dict[str, str] | None = None, **kw: int) -> Sipp:
    ip = PHONE_IP.get(who, who)
    _wait_udp(ip, bound=False)  # the previous scenario's SIPp on this address has gone
    s = phone(scenario, who, keys=keys, **kw)
    stack.callback(s.stop)
    _wait_udp(ip, bound=True)  # SIPp is listening before any call is placed
    return s


def scenario_ringall_answered(ami: AmiClient) -> None:
    """Trunk call to DID 74951110001 (ring-all 101&102); 102 answers after 2 s, 101 loses; caller hangs up."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_answer", "102", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL, hold_ms=4000)
        _finish(st, ami, [uac])


def scenario_ringall_no_answer(ami: AmiClient) -> None:
    """DID 74951110001; 101 and 102 ring for the whole 20 s Dial timeout; Asterisk hangs the caller up."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_ring", "102")
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL)
        _finish(st, ami, [uac])


def scenario_caller_hangup_while_ringing(ami: AmiClient) -> None:
    """DID 74951110001; 101 and 102 ring; the caller CANCELs after 4 s."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_ring", "102")
        time.sleep(0.5)
        uac = caller("uac_cancel", DID_RINGALL, hold_ms=4000)
        _finish(st, ami, [uac])


def scenario_busy(ami: AmiClient) -> None:
    """DID 74951110004 (direct to 103); 103 rejects with 486 Busy Here."""
    with ExitStack() as st:
        _uas(st, "uas_busy", "103")
        time.sleep(0.5)
        uac = caller("uac_call", DID_103)
        _finish(st, ami, [uac])


def scenario_ivr_hangup(ami: AmiClient) -> None:
    """DID 74951110003 (IVR, answered by Asterisk); the caller hangs up after 3 s without choosing."""
    with ExitStack() as st:
        uac = caller("uac_call", DID_IVR, hold_ms=3000)
        _finish(st, ami, [uac])


def scenario_ivr_queue_answered(ami: AmiClient) -> None:
    """DID 74951110003; IVR answers; 1.5 s later the caller presses 1 (SIP INFO) → queue reception;
    101 and 102 ring, 102 answers after 2 s, 101 loses; the caller hangs up 6 s after pressing 1."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_answer", "102", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_dtmf", DID_IVR, hold_ms=6000, extra_keys={"dtmf": "1"})
        _finish(st, ami, [uac])


def scenario_queue_answered(ami: AmiClient) -> None:
    """DID 74951110002 (queue reception, ring-all 101+102); 102 answers after 3 s; caller hangs up."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_answer", "102", ring_ms=3000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_QUEUE, hold_ms=5000)
        _finish(st, ami, [uac])


def scenario_queue_abandoned(ami: AmiClient) -> None:
    """DID 74951110002; 101 and 102 ring; the caller gives up (CANCEL) after 5 s in the queue."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_ring", "102")
        time.sleep(0.5)
        uac = caller("uac_cancel", DID_QUEUE, hold_ms=5000)
        _finish(st, ami, [uac])


def scenario_queue_timeout(ami: AmiClient) -> None:
    """DID 74951110002; nobody answers; after the 30 s queue timeout Asterisk hangs the caller up."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_ring", "102")
        time.sleep(0.5)
        uac = caller("uac_call", DID_QUEUE)
        _finish(st, ami, [uac], timeout=120)


def scenario_operator_hangs_up_first(ami: AmiClient) -> None:
    """DID 74951110004 → 103 answers after 2 s, talks 4 s and hangs up (BYE from 103)."""
    with ExitStack() as st:
        _uas(st, "uas_answer_hangup", "103", ring_ms=2000, talk_ms=4000)
        time.sleep(0.5)
        uac = caller("uac_wait_bye", DID_103)
        _finish(st, ami, [uac])


def scenario_outbound_answered(ami: AmiClient) -> None:
    """Phone 101 dials 89161234567; the provider answers after 2 s; 101 hangs up after 4 s."""
    with ExitStack() as st:
        _uas(st, "uas_answer", TRUNK_IP, ring_ms=2000)
        time.sleep(0.5)
        uac = caller(
            "uac_call", OUTSIDE_NUMBER, hold_ms=4000, cid_num="101", cid_name="", bind_ip=PHONE_IP["101"]
        )
        _finish(st, ami, [uac])


def scenario_outbound_unanswered(ami: AmiClient) -> None:
    """Phone 101 dials 89161234567; the provider answers 486 Busy Here."""
    with ExitStack() as st:
        _uas(st, "uas_busy", TRUNK_IP)
        time.sleep(0.5)
        uac = caller("uac_call", OUTSIDE_NUMBER, cid_num="101", cid_name="", bind_ip=PHONE_IP["101"])
        _finish(st, ami, [uac])


def scenario_internal_call(ami: AmiClient) -> None:
    """Phone 101 dials 102; 102 answers after 2 s; 101 hangs up after 4 s."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "102", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", "102", hold_ms=4000, cid_num="101", cid_name="", bind_ip=PHONE_IP["101"])
        _finish(st, ami, [uac])


def scenario_blind_transfer(ami: AmiClient) -> None:
    """DID 74951110001; 101 answers after 1.5 s (102 loses); 3 s later AMI BlindTransfer of 101's
    channel to 103@phones; 101 is hung up; 103 answers after 2 s; the caller hangs up 12 s after answer."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "101", ring_ms=1500)
        _uas(st, "uas_ring", "102")
        _uas(st, "uas_answer", "103", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL, hold_ms=12000)
        chan = ami.wait_channel_state("101", "Up")
        time.sleep(3)
        res = ami.action("BlindTransfer", Channel=chan, Exten="103", Context="phones")
        if res[0].get("Response") != "Success":
            raise HarnessError(f"BlindTransfer failed: {res}")
        _finish(st, ami, [uac])


def scenario_attended_transfer(ami: AmiClient) -> None:
    """DID 74951110001; 101 answers after 1.5 s (102 loses); 3 s later AMI Atxfer on 101's channel to
    103@phones (the caller is put on hold); 103 answers after 2 s; 3 s later 101 is hung up via AMI, which
    completes the transfer: caller talks to 103; the caller hangs up 16 s after the first answer."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "101", ring_ms=1500)
        _uas(st, "uas_ring", "102")
        _uas(st, "uas_answer", "103", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL, hold_ms=16000)
        chan = ami.wait_channel_state("101", "Up")
        time.sleep(3)
        res = ami.action("Atxfer", Channel=chan, Exten="103", Context="phones")
        if res[0].get("Response") != "Success":
            raise HarnessError(f"Atxfer failed: {res}")
        ami.wait_channel_state("103", "Up", timeout=15)
        time.sleep(3)
        ami.action("Hangup", Channel=chan)
        _finish(st, ami, [uac])


def scenario_pickup(ami: AmiClient) -> None:
    """DID 74951110004 → 103 rings; after 3 s phone 104 dials *8 and picks the call up; the caller
    hangs up 5 s after being answered by 104."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "103")
        time.sleep(0.5)
        uac = caller("uac_call", DID_103, hold_ms=5000)
        ami.wait_channel_state("103", "Ringing")
        time.sleep(3)
        picker = caller("uac_wait_bye", "*8", cid_num="104", cid_name="", bind_ip=PHONE_IP["104"])
        _finish(st, ami, [uac, picker])


def click_to_call_action(extension: str = "101", number: str = "+79161234567") -> dict[str, str]:
    """The Originate kolokol sends for click-to-call (asterisk_conf's context, E.164 numbers)."""
    return originate_action(
        action_id="",
        channel=f"PJSIP/{extension}",
        context="phones",
        dial=number,
        ring_seconds=20,
        display=number,
        extension=extension,
    )


def scenario_click_to_call(ami: AmiClient, originate: Callable[[], None] | None = None) -> None:
    """Click-to-call: Originate rings 101, which answers after 1 s; Asterisk then dials +79161234567 out
    through the trunk, which answers after 2 s; 101 hangs up 4 s after answering.

    `originate` places the Originate (kolokol's HTTP API in the console tests); by default the harness
    sends the same action itself."""
    with ExitStack() as st:
        _uas(st, "uas_answer_hangup", "101", ring_ms=1000, talk_ms=4000)
        _uas(st, "uas_answer", TRUNK_IP, ring_ms=2000)
        time.sleep(0.5)
        if originate is None:
            action = click_to_call_action()
            action.pop("ActionID")
            res = ami.action(action.pop("Action"), 10, **action)
            if res[0].get("Response") != "Success":
                raise HarnessError(f"Originate failed: {res}")
        else:
            originate()
        ami.wait_channel_state("101", "Up", timeout=15)
        _finish(st, ami, [])


def _originate(ami: AmiClient, timeout: float = 40, **headers: str) -> list[dict[str, str]]:
    """A synchronous Originate: Asterisk answers once the first leg has answered, or failed."""
    return ami.action("Originate", timeout, Priority="1", Timeout="30000", **headers)


def scenario_ringall_one_dnd(ami: AmiClient) -> None:
    """DID 74951110001 (101 & 102); 101 is on do-not-disturb: it answers 486 at once and never rings;
    102 rings and answers after 2 s; the caller hangs up 4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_busy", "101")
        _uas(st, "uas_answer", "102", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL, hold_ms=4000)
        _finish(st, ami, [uac])


def scenario_dnd_busy_app(ami: AmiClient) -> None:
    """DID 74951110005: the dialplan finds 105 on do-not-disturb and answers Busy() without dialling any
    phone (the caller gets 486)."""
    with ExitStack() as st:
        uac = caller("uac_call", DID_DND)
        _finish(st, ami, [uac])


def scenario_unreachable(ami: AmiClient) -> None:
    """DID 74951110007 → 106, which is not registered: Dial reports CHANUNAVAIL at once; Asterisk hangs
    the caller up."""
    with ExitStack() as st:
        uac = caller("uac_call", DID_UNREACHABLE)
        _finish(st, ami, [uac])


def scenario_ringall_one_unreachable(ami: AmiClient) -> None:
    """DID 74951110009 → 106 (not registered) & 104; 104 rings and answers after 2 s; the caller hangs up
    4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "104", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL_UNREACHABLE, hold_ms=4000)
        _finish(st, ami, [uac])


def scenario_forward_302(ami: AmiClient) -> None:
    """DID 74951110008 → 107, which forwards to 103 with 302 before ringing; Asterisk follows the forward:
    103 rings and answers after 2 s; the caller hangs up 4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_forward", "107", keys={"forward": "103"})
        _uas(st, "uas_answer", "103", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_FORWARD, hold_ms=4000)
        _finish(st, ami, [uac])


def scenario_account_code_phones(ami: AmiClient) -> None:
    """The provider trunk voipgrid-siproute (127.N.0.3) calls DID 74951110006 → ring group of the phones
    named by SIP account codes 150010001 & 150010002 (known as 201 and 202); 150010002 answers after 2 s,
    150010001 loses; the caller hangs up 4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_ring", "150010001")
        _uas(st, "uas_answer", "150010002", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_ACCOUNTS, hold_ms=4000, bind_ip=PROVIDER_IP)
        _finish(st, ami, [uac])


def scenario_blind_transfer_to_ringgroup(ami: AmiClient) -> None:
    """DID 74951110004 → 103 answers after 1.5 s; 3 s later AMI BlindTransfer of 103's channel to
    600@phones (ring group 101 & 102); 101 rings on, 102 answers after 2 s; the caller hangs up 12 s after
    the first answer."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "103", ring_ms=1500)
        _uas(st, "uas_ring", "101")
        _uas(st, "uas_answer", "102", ring_ms=2000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_103, hold_ms=12000)
        chan = ami.wait_channel_state("103", "Up")
        time.sleep(3)
        res = ami.action("BlindTransfer", Channel=chan, Exten=RINGGROUP_EXT, Context="phones")
        if res[0].get("Response") != "Success":
            raise HarnessError(f"BlindTransfer failed: {res}")
        _finish(st, ami, [uac])


def scenario_blind_transfer_to_queue(ami: AmiClient) -> None:
    """DID 74951110004 → 103 answers after 1.5 s; 3 s later AMI BlindTransfer of 103's channel to
    601@phones (queue reception: 101 & 102 ring-all); 101 answers after 2 s, 102 loses; the caller hangs
    up 12 s after the first answer."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "103", ring_ms=1500)
        _uas(st, "uas_answer", "101", ring_ms=2000)
        _uas(st, "uas_ring", "102")
        time.sleep(0.5)
        uac = caller("uac_call", DID_103, hold_ms=12000)
        chan = ami.wait_channel_state("103", "Up")
        time.sleep(3)
        res = ami.action("BlindTransfer", Channel=chan, Exten=QUEUE_EXT, Context="phones")
        if res[0].get("Response") != "Success":
            raise HarnessError(f"BlindTransfer failed: {res}")
        _finish(st, ami, [uac])


def scenario_blonde_transfer(ami: AmiClient) -> None:
    """DID 74951110001; 101 answers after 1.5 s (102 loses); 3 s later AMI Atxfer from 101 to 103@phones
    (the caller on hold); 103 rings for 5 s; 1.5 s into its ringing 101 is hung up (AMI Hangup), which
    hands the caller to the still-ringing 103 (a "blonde" transfer); 103 answers; the caller hangs up 16 s
    after the first answer."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "101", ring_ms=1500)
        _uas(st, "uas_ring", "102")
        _uas(st, "uas_answer", "103", ring_ms=5000)
        time.sleep(0.5)
        uac = caller("uac_call", DID_RINGALL, hold_ms=16000)
        chan = ami.wait_channel_state("101", "Up")
        time.sleep(3)
        res = ami.action("Atxfer", Channel=chan, Exten="103", Context="phones")
        if res[0].get("Response") != "Success":
            raise HarnessError(f"Atxfer failed: {res}")
        ami.wait_channel_state("103", "Ringing", timeout=15)
        time.sleep(1.5)
        ami.action("Hangup", Channel=chan)
        _finish(st, ami, [uac])


def scenario_click_to_dial_patient_first(ami: AmiClient) -> None:
    """Click-to-dial through the trunk, the patient first, no Local channels: AMI Originate of
    PJSIP/+79161234567@trunk (caller ID the clinic's number) into phones/101; the provider answers after
    2 s; then 101 rings and answers after 1 s; 101 hangs up 4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_answer", TRUNK_IP, ring_ms=2000)
        _uas(st, "uas_answer_hangup", "101", ring_ms=1000, talk_ms=4000)
        time.sleep(0.5)
        res = _originate(
            ami,
            Channel="PJSIP/+79161234567@trunk",
            Context="phones",
            Exten="101",
            CallerID=f'"Clinic" <{CLINIC_NUMBER}>',
        )
        if res[0].get("Response") != "Success":
            raise HarnessError(f"Originate failed: {res}")
        ami.wait_channel_state("101", "Up", timeout=15)
        _finish(st, ami, [])


def scenario_click_to_dial_patient_busy(ami: AmiClient) -> None:
    """Click-to-dial through the trunk, the patient first: the provider answers 486 Busy Here, so the
    operator's phone (101) is never rung."""
    with ExitStack() as st:
        _uas(st, "uas_busy", TRUNK_IP)
        time.sleep(0.5)
        res = _originate(
            ami,
            Channel="PJSIP/+79161234567@trunk",
            Context="phones",
            Exten="101",
            CallerID=f'"Clinic" <{CLINIC_NUMBER}>',
        )
        if res[0].get("Response") != "Error":
            raise HarnessError(f"Originate to a busy number did not fail: {res}")
        _finish(st, ami, [])


def scenario_click_to_dial_local_patient_first(ami: AmiClient) -> None:
    """Click-to-dial with Local channels, the patient first: Originate of Local/+79161234567@outbound into
    phones/101; the outbound dialplan dials the provider (clinic caller ID), which answers after 2 s; then
    101 rings and answers after 1 s; 101 hangs up 4 s later."""
    with ExitStack() as st:
        _uas(st, "uas_answer", TRUNK_IP, ring_ms=2000)
        _uas(st, "uas_answer_hangup", "101", ring_ms=1000, talk_ms=4000)
        time.sleep(0.5)
        res = _originate(
            ami,
            Channel="Local/+79161234567@outbound",
            Context="phones",
            Exten="101",
            CallerID=f'"Clinic" <{CLINIC_NUMBER}>',
        )
        if res[0].get("Response") != "Success":
            raise HarnessError(f"Originate failed: {res}")
        ami.wait_channel_state("101", "Up", timeout=15)
        _finish(st, ami, [])


def scenario_click_to_dial_local_operator_busy(ami: AmiClient) -> None:
    """Click-to-dial with Local channels, the operator first: Originate of Local/101@phones into
    phones/+79161234567; 101 answers after 1 s; the outbound dialplan dials the provider, which answers
    486 Busy Here; Asterisk hangs 101 up."""
    with ExitStack() as st:
        _uas(st, "uas_answer", "101", ring_ms=1000)
        _uas(st, "uas_busy", TRUNK_IP)
        time.sleep(0.5)
        res = _originate(
            ami,
            Channel="Local/101@phones",
            Context="phones",
            Exten="+79161234567",
            CallerID='"+79161234567" <101>',
        )
        if res[0].get("Response") != "Success":
            raise HarnessError(f"Originate failed: {res}")
        _finish(st, ami, [])


SCENARIOS: dict[str, Callable[[AmiClient], None]] = {
    "ringall_answered": scenario_ringall_answered,
    "ringall_no_answer": scenario_ringall_no_answer,
    "caller_hangup_while_ringing": scenario_caller_hangup_while_ringing,
    "busy": scenario_busy,
    "ivr_hangup": scenario_ivr_hangup,
    "ivr_queue_answered": scenario_ivr_queue_answered,
    "queue_answered": scenario_queue_answered,
    "queue_abandoned": scenario_queue_abandoned,
    "queue_timeout": scenario_queue_timeout,
    "operator_hangs_up_first": scenario_operator_hangs_up_first,
    "outbound_answered": scenario_outbound_answered,
    "outbound_unanswered": scenario_outbound_unanswered,
    "internal_call": scenario_internal_call,
    "blind_transfer": scenario_blind_transfer,
    "attended_transfer": scenario_attended_transfer,
    "pickup": scenario_pickup,
    "click_to_call": scenario_click_to_call,
    "ringall_one_dnd": scenario_ringall_one_dnd,
    "dnd_busy_app": scenario_dnd_busy_app,
    "unreachable": scenario_unreachable,
    "ringall_one_unreachable": scenario_ringall_one_unreachable,
    "forward_302": scenario_forward_302,
    "account_code_phones": scenario_account_code_phones,
    "blind_transfer_to_ringgroup": scenario_blind_transfer_to_ringgroup,
    "blind_transfer_to_queue": scenario_blind_transfer_to_queue,
    "blonde_transfer": scenario_blonde_transfer,
    "click_to_dial_patient_first": scenario_click_to_dial_patient_first,
    "click_to_dial_patient_busy": scenario_click_to_dial_patient_busy,
    "click_to_dial_local_patient_first": scenario_click_to_dial_local_patient_first,
    "click_to_dial_local_operator_busy": scenario_click_to_dial_local_operator_busy,
}


def asterisk_running() -> bool:
    return _instance is not None and _tcp_open(AMI_HOST, AMI_PORT)


def record_scenario(name: str, out_dir: Path | str = FIXTURES_DIR, quiet: float = 1.5) -> Path:
    """Run one scenario against a running Asterisk and write its raw AMI capture to out_dir/<name>.ami."""
    out = Path(out_dir) / f"{name}.ami"
    tmp = out.with_suffix(".ami.part")
    try:
        with AmiClient() as ami:
            ami.wait_no_channels(30)
            with AmiRecorder(tmp) as rec:
                rec.wait_for_quiet(0.5)
                SCENARIOS[name](ami)
                rec.wait_for_quiet(quiet)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(out)
    return out
