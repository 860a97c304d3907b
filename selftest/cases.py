"""The self-test catalogue: the cases of the Open WebUI plugin we replace
(same names, valves and expected statuses) and the extra cases it fails or
never checks. Cases are data; runner.py runs them against a target."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from . import checks, probes, targets
from .checks import FileExpect
from .context import Context
from .targets import Outcome, Request, Target

ValveValue = str | int | float | bool
CodeSource = str | Callable[[Context], str]
Check = Callable[[Outcome, Context], str | None]
Scenario = Callable[[Target, Context], Awaitable[str | None]]


@dataclass(frozen=True)
class Case:
    name: str
    language: str = "python"
    code: CodeSource = ""
    want_status: tuple[str, ...] = ("OK",)
    valves: Mapping[str, ValveValue] = field(default_factory=dict)
    # The exact set of generated files, when given.
    files: Mapping[str, FileExpect] | None = None
    # Files the suite's shared storage root holds afterwards.
    stored_files: int | None = None
    check: Check | None = None
    # A case that needs more than one run drives the target itself.
    scenario: Scenario | None = None
    # Cases of the plugin we replace share one storage root, in order.
    shared_storage: bool = True
    env: Callable[[Context], Mapping[str, str]] | None = None


SAMPLE_PYTHON = "\n".join(
    (
        "print('Hello from the sandbox!')",
        "import datetime, sys",
        "print('Current date and time:', datetime.datetime.now())",
        "sys.stdout.flush()",
        "import shutil, subprocess",
        "subprocess.run([shutil.which('dmesg')], check=True)",
        "print('Bye from the sandbox!')",
    )
)
SAMPLE_BASH = "\n".join(("echo 'Hello from the sandbox!'", "date", "dmesg", "echo 'Bye from the sandbox!'"))
SAMPLE_CODE = {"python": SAMPLE_PYTHON + "\n", "bash": SAMPLE_BASH + "\n"}

_SLEEP_15 = "import time\ntime.sleep(15)\nprint('Managed to sleep for 15 seconds.')\n"
_RAM_HOG = "\n".join(
    (
        "import time",
        "f = open('/dev/urandom', 'rb')",
        "s = []",
        "for i in range(256): s.append(f.read(1024 * 1024))",
        "time.sleep(1)",
        "print('\\n'.join(line for line in open('/proc/self/status').read().split('\\n')"
        " if line.startswith('Vm')))",
        "print('Managed to hog', len(s), 'megabytes.')",
    )
)
_MANY_FILES = "for i in $(seq 1 128); do touch file$i.txt; done\n"
# The function inlines text files of up to this many lines and bytes.
_INLINE_LINES = 128
_INLINE_BYTES = 65535

_URL_ROOT = "http://myhost/URL/ROOT"
_RENDERING_CODE = "\n".join(
    (
        "mkdir -p foo/bar",
        "dmesg > foo/bar/dmesg.txt",
        "touch empty.txt",
        "(echo '# Example markdown file'; echo 'This is markdown!') > markdown.md",
        "echo 'This file cannot `''`''` be inlined' > no_inline.txt",
        "echo 'Might be an image' > picture.png",
        "echo 'Might be music' > song.flac",
        "echo 'Might be a video' > movie.mkv",
        "echo 'Might be random data' > random_data",
        "echo 'Might be random data' > random_data.bin",
    )
)
_RENDERED_FILES = {
    "foo/bar/dmesg.txt": FileExpect(
        markdown_has=(
            "\U0001f4c4",
            "[foo/bar/dmesg.txt]",
            f"({_URL_ROOT}/",
            "/foo/bar/dmesg.txt)",
            "gVisor",
            "```",
        ),
        content_has=(b"gVisor",),
    ),
    "empty.txt": FileExpect(
        markdown_has=("\u2049", "`empty.txt`", "(empty)"),
        markdown_lacks=("\U0001f4c4", "[empty.txt]", f"({_URL_ROOT}"),
    ),
    "markdown.md": FileExpect(
        markdown_has=("\U0001f4c3", "\n> # Example markdown file\n> This is markdown!"),
        markdown_lacks=("\U0001f4c4", "```"),
        content_has=(b"This is markdown!",),
    ),
    "no_inline.txt": FileExpect(markdown_has=("\U0001f4c4",), markdown_lacks=("This file cannot", "```")),
    "picture.png": FileExpect(markdown_has=("\U0001f5bc",), markdown_lacks=("Might be",)),
    "song.flac": FileExpect(markdown_has=("\U0001f3b5",), markdown_lacks=("Might be",)),
    "movie.mkv": FileExpect(markdown_has=("\U0001f3ac",), markdown_lacks=("Might be",)),
    "random_data": FileExpect(markdown_has=("\U0001f4be",), markdown_lacks=("Might be",)),
    "random_data.bin": FileExpect(markdown_has=("\U0001f4be",), markdown_lacks=("Might be",)),
}
_TOO_LARGE_CODE = "\n".join(
    (
        f"yes boop | head -{_INLINE_LINES - 1} > ok_lines.md",
        f"yes boop | head -{_INLINE_LINES - 1} > ok_lines.txt",
        f"yes boop | head -{_INLINE_LINES + 1} > too_many_lines.md",
        f"yes boop | head -{_INLINE_LINES + 1} > too_many_lines.txt",
        f"yes boop | tr '\\n' ' ' | head -c{_INLINE_BYTES - 1} > ok_bytes.txt",
        f"yes boop | tr '\\n' ' ' | head -c{_INLINE_BYTES + 1} > too_many_bytes.txt",
    )
)
_INLINED = FileExpect(markdown_has=("boop",))
_NOT_INLINED = FileExpect(markdown_lacks=("boop",))

TOOL_CASES: tuple[Case, ...] = (
    Case("simple_python", "python", SAMPLE_CODE["python"]),
    Case("simple_bash", "bash", SAMPLE_CODE["bash"]),
    Case("bad_syntax_python", "python", "print('foo\n", ("ERROR",)),
    Case("bad_syntax_bash", "bash", "echo 'foo\n", ("ERROR",)),
    Case("long_running_code", "python", _SLEEP_15, ("TIMEOUT",), {"MAX_RUNTIME_SECONDS": 5}),
    Case("ram_hog", "python", _RAM_HOG, ("INTERRUPTED",), {"MAX_RAM_MEGABYTES": 128}),
)

FUNCTION_CASES: tuple[Case, ...] = (
    Case("simple_python", "python", SAMPLE_CODE["python"]),
    Case("simple_bash", "bash", SAMPLE_CODE["bash"], stored_files=0),
    Case("bad_syntax_python", "python", "print('foo\n", ("ERROR",)),
    Case("bad_syntax_bash", "bash", "echo 'foo\n", ("ERROR",)),
    Case(
        "simple_file_creation",
        "bash",
        "echo 'Hello world!' > today.txt\n",
        files={
            "today.txt": FileExpect(
                markdown_has=("today.txt", "Hello world!\n"), content_has=(b"Hello world!\n",)
            )
        },
        stored_files=1,
    ),
    Case(
        "generated_file_rendering",
        "bash",
        _RENDERING_CODE + "\n",
        valves={"WEB_ACCESSIBLE_DIRECTORY_URL": _URL_ROOT},
        files=_RENDERED_FILES,
        stored_files=10,
    ),
    Case(
        "generated_text_files_too_large_to_render",
        "bash",
        _TOO_LARGE_CODE + "\n",
        files={
            "ok_lines.md": _INLINED,
            "ok_lines.txt": _INLINED,
            "too_many_lines.md": _NOT_INLINED,
            "too_many_lines.txt": _NOT_INLINED,
            "ok_bytes.txt": _INLINED,
            "too_many_bytes.txt": _NOT_INLINED,
        },
        stored_files=16,
    ),
    Case(
        "too_large_file_for_user_quota",
        "bash",
        f"head -c{64 << 20} /dev/urandom > random_data.bin\n",
        ("STORAGE_ERROR",),
        {"MAX_MEGABYTES_PER_USER": 32, "MAX_RAM_MEGABYTES": 2048},
        stored_files=16,
    ),
    Case(
        "too_many_files_generated_in_single_execution",
        "bash",
        _MANY_FILES,
        ("STORAGE_ERROR",),
        {"MAX_FILES_PER_EXECUTION": 64},
        stored_files=16,
    ),
    Case(
        "too_many_files_for_user_quota",
        "bash",
        _MANY_FILES,
        ("STORAGE_ERROR",),
        {"MAX_FILES_PER_EXECUTION": 256, "MAX_FILES_PER_USER": 64},
        stored_files=16,
    ),
    Case(
        "clear_out_existing_user_storage",
        "bash",
        _MANY_FILES,
        valves={"MAX_FILES_PER_EXECUTION": 256, "MAX_FILES_PER_USER": 128 + 6 + 2},
        files={f"file{i}.txt": FileExpect() for i in range(1, 129)},
        # Room for the last kept run (6 files) but not the one before: older
        # runs go whole, so the spare 2 do not keep part of one.
        stored_files=128 + 6,
    ),
    Case("long_running_code", "python", _SLEEP_15, ("TIMEOUT",), {"MAX_RUNTIME_SECONDS": 5}),
    Case("ram_hog", "python", _RAM_HOG, ("INTERRUPTED",), {"MAX_RAM_MEGABYTES": 128}),
)


# ---- Extra cases: what the plugin we replace fails or never checks. ----


def _check_timeout_output(out: Outcome, ctx: Context) -> str | None:
    if "printed before the deadline" not in out.output:
        return f"the output printed before the timeout was lost (got {out.output[:200]!r})"
    return None


def _check_coreutils(out: Outcome, ctx: Context) -> str | None:
    # Old runsc builds fail statx(AT_NO_AUTOMOUNT), which ls and stat use.
    if "coreutils ok" not in out.output:
        return f"ls/stat failed in the sandbox (got {out.output[:200]!r})"
    return None


def _check_ram_hog(out: Outcome, ctx: Context) -> str | None:
    if "HOGGED" in out.output:
        return "the code got 1 GiB of memory under a 128 MiB cap"
    if out.status == "SANDBOX_ERROR":
        message = str(out.reply.get("message") or "")
        if not message:
            return "the run was refused without a message naming the fix"
        ctx.notes.append(f"memory cap not enforceable here; refused with: {message[:300]}")
    return None


_BIG_HOG = (
    "chunks = []\nfor i in range(1024):\n    chunks.append(b'x' * (1 << 20))\nprint('HOGGED', len(chunks))\n"
)

_NET_PROBE = """
import errno, json, socket, threading
results = {}
def attempt(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1.5)
    try:
        s.connect((host, port))
        results[f"{host}:{port}"] = "CONNECTED"
    except OSError as e:
        results[f"{host}:{port}"] = errno.errorcode.get(e.errno, "timeout") if e.errno else "timeout"
    finally:
        s.close()
threads = [threading.Thread(target=attempt, args=t) for t in __TARGETS__]
for t in threads:
    t.start()
for t in threads:
    t.join()
try:
    interfaces = sorted(name for _, name in socket.if_nameindex())
except OSError:
    interfaces = []
print("PROBE " + json.dumps({"connect": results, "interfaces": interfaces}))
"""


def _network_probe_code(ctx: Context) -> str:
    port = ctx.listener().port
    # The host's loopback and every host address (where services listening
    # on all interfaces answer), slirp's alias for the host, cloud metadata.
    hosts = [(address, port) for address in probes.host_ipv4_addresses()]
    hosts += [("10.0.2.2", port), ("169.254.169.254", 80)]
    return _NET_PROBE.replace("__TARGETS__", repr(hosts))


def _check_network(network_on: bool) -> Check:
    def check(out: Outcome, ctx: Context) -> str | None:
        if out.status == "SANDBOX_ERROR" and network_on:
            ctx.notes.append("network-on sandboxes are unavailable on this host; nothing to check")
            return None
        report = checks.probe(out.output)
        if report is None:
            return f"the network probe printed no report (output {out.output[:300]!r})"
        connect = report.get("connect") or {}
        reached = sorted(target for target, result in connect.items() if result == "CONNECTED")
        if reached:
            return f"the sandbox connected to {', '.join(reached)}"
        if ctx.listener().peers:
            return f"the host listener accepted connections from {', '.join(ctx.listener().peers)}"
        interfaces = [str(i) for i in report.get("interfaces") or []]
        extra = sorted(set(interfaces) - {"lo"})
        if not network_on and extra:
            return f"network is off but the sandbox has interfaces {', '.join(extra)}"
        if network_on and not extra:
            return "NETWORKING_ALLOWED=true but the sandbox has no network interface"
        ctx.notes.append(f"interfaces {interfaces}; connection attempts {connect}")
        return None

    return check


_FORK_BOMB = """
import errno, os
count, error = 0, "none"
for _ in range(2000):
    try:
        pid = os.fork()
    except OSError as e:
        error = errno.errorcode.get(e.errno, str(e.errno))
        break
    if pid == 0:
        try:
            os.execv("/bin/sleep", ["sleep", "30"])
        finally:
            os._exit(0)
    count += 1
print("FORKED", count, error, flush=True)
"""
# Host process growth that means sandboxed processes became host processes.
_MAX_HOST_PROCESS_GROWTH = 1000


async def _fork_bomb(target: Target, ctx: Context) -> str | None:
    sampler = probes.ProcessSampler()
    try:
        out = await target.run(ctx.request("python", _FORK_BOMB))
    finally:
        growth = sampler.close()
    ctx.notes.append(f"host processes grew by at most {growth} during the run")
    if growth > _MAX_HOST_PROCESS_GROWTH:
        return f"the host gained {growth} processes during the fork bomb"
    forked = re.search(r"FORKED (\d+) (\S+)", out.output)
    ctx.notes.append(
        f"status {out.status}; message {out.reply.get('message')!r}; output {out.output[-200:]!r}"
    )
    if out.status == "INTERRUPTED" and forked is None:
        return None  # Stopped as a whole: contained.
    if forked is None:
        return (
            f"the fork bomb ended with status {out.status} before fork() failed: a pids cap "
            "should make fork() fail (EAGAIN) or stop the run as INTERRUPTED"
        )
    count, cap = int(forked.group(1)), 128
    if count >= cap:
        return f"the code forked {count} processes under a cap of {cap}"
    ctx.notes.append(f"forked {count} processes before {forked.group(2)}")
    return checks.status(out, ("OK", "ERROR", "INTERRUPTED"))


_FLOOD = """
import sys
line = "x" * 1023 + "\\n"
for _ in range(20 * 1024):
    sys.stdout.write(line)
sys.stdout.flush()
print("END-OF-FLOOD")
"""


def _check_flood(out: Outcome, ctx: Context) -> str | None:
    if not out.truncated:
        return "20 MiB of output was not flagged as truncated"
    if "END-OF-FLOOD" in out.output:
        return "the end of 20 MiB of output came back: nothing was cut"
    size = len(out.output.encode("utf-8"))
    if size > (1 << 20) + (64 << 10):
        return f"{size} bytes of output came back under a 1 MiB cap"
    ctx.notes.append(f"{size} bytes of output kept")
    return None


_CONCURRENT_CODE = "import time\ntime.sleep(2)\nprint('done')\n"
_CONCURRENT_RUNS = 8
_HEARTBEAT_S = 0.05
_MAX_STALL_S = 0.5


async def _concurrent_runs(target: Target, ctx: Context) -> str | None:
    def request(user: str) -> Request:
        return ctx.request("python", _CONCURRENT_CODE, user=user, in_process=True)

    one = await target.run(request("selftest-concurrency"))
    if one.status != "OK":
        return f"a single run failed: status {one.status}"
    loop = asyncio.get_running_loop()
    ticks = [loop.time()]
    done = asyncio.Event()

    async def heartbeat() -> None:
        while not done.is_set():
            await asyncio.sleep(_HEARTBEAT_S)
            ticks.append(loop.time())

    beat = asyncio.create_task(heartbeat())
    start = time.monotonic()
    try:
        outs = await asyncio.gather(
            *(target.run(request(f"selftest-concurrency-{i}")) for i in range(_CONCURRENT_RUNS))
        )
    finally:
        elapsed = time.monotonic() - start
        done.set()
        await beat
    stall = max(b - a for a, b in itertools.pairwise(ticks))
    ctx.notes.append(
        f"one run {one.elapsed_s:.1f} s; {_CONCURRENT_RUNS} at once {elapsed:.1f} s; "
        f"longest event-loop stall {stall * 1000:.0f} ms"
    )
    failed = [o.status for o in outs if o.status != "OK" or "done" not in o.output]
    if failed:
        return f"{len(failed)} of {_CONCURRENT_RUNS} simultaneous runs failed: {failed}"
    if elapsed > max(2.5 * one.elapsed_s, one.elapsed_s + 3.0):
        return f"{_CONCURRENT_RUNS} simultaneous runs took {elapsed:.1f} s, one takes {one.elapsed_s:.1f} s"
    if stall > _MAX_STALL_S:
        return f"the caller's event loop stalled for {stall:.2f} s during the runs"
    return None


_PEEK_CODE = """
import json, os
token, theirs, root = __ARGS__
seen = []
for path in (theirs, os.path.dirname(theirs), root):
    if os.path.exists(path):
        seen.append(path)
for top in ("/home", "/tmp", "/root", "/srv", "/var", "/mnt", "/run"):
    for dirpath, dirnames, filenames in os.walk(top):
        for name in filenames:
            try:
                with open(os.path.join(dirpath, name), "rb") as f:
                    if token.encode() in f.read(1 << 20):
                        seen.append(os.path.join(dirpath, name))
            except OSError:
                pass
with open("mine.txt", "w") as f:
    f.write("not the other user's")
print("PROBE " + json.dumps({"seen": seen}))
"""


async def _two_users(target: Target, ctx: Context) -> str | None:
    suffix = secrets.token_hex(4)
    alice, bob = f"selftest-alice-{suffix}", f"selftest-bob-{suffix}"
    token = "selftest-private-" + secrets.token_hex(8)
    a = await target.run(ctx.request("bash", f"echo {token} > secret.txt\n", user=alice))
    if a.status != "OK" or "secret.txt" not in a.files or a.files["secret.txt"].host_path is None:
        return f"the first user's run did not keep secret.txt (status {a.status})"
    theirs = a.files["secret.txt"].host_path
    assert theirs is not None
    code = _PEEK_CODE.replace("__ARGS__", repr((token, theirs, ctx.storage_root)))
    # A per-user quota of one file: were quotas shared, this would evict alice.
    b = await target.run(ctx.request("python", code, user=bob, valves={"MAX_FILES_PER_USER": 1}))
    if b.status != "OK":
        return f"the second user's run failed: status {b.status}"
    report = checks.probe(b.output)
    if report is None:
        return f"the second user's probe printed no report ({b.output[:300]!r})"
    if report.get("seen") or token in b.output:
        return f"the second user saw the first user's file: {report.get('seen')}"
    if checks.read_kept(theirs, 4096) != (token + "\n").encode():
        return "the second user's run evicted or changed the first user's file"
    mine = b.files.get("mine.txt")
    if mine is None or mine.host_path is None:
        return "the second user's file was not kept"
    if checks.user_dir(mine.host_path, "mine.txt") == checks.user_dir(theirs, "secret.txt"):
        return "both users' files are kept in the same directory"
    # Bob's next run evicts bob's own older run, never alice's.
    again = await target.run(
        ctx.request("bash", "echo again > again.txt\n", user=bob, valves={"MAX_FILES_PER_USER": 1})
    )
    if again.status != "OK":
        return f"the second user's second run failed: status {again.status}"
    if os.path.exists(mine.host_path):
        return "the second user's older run was not evicted under a 1-file quota"
    if checks.read_kept(theirs, 4096) != (token + "\n").encode():
        return "evicting the second user's files touched the first user's"
    return None


def _symlink_code(ctx: Context) -> str:
    return "\n".join(
        (
            f"ln -s {ctx.secret().path} leak.txt",
            "ln -s /etc/hostname hostname.txt",
            "mkdir -p d && ln -s / d/root",
            "echo fine > ok.txt",
        )
    )


def _check_symlink(out: Outcome, ctx: Context) -> str | None:
    for path in checks.stored_files(ctx.storage_root):
        content = checks.read_kept(path, 1 << 20) or b""
        if ctx.secret().token.encode() in content:
            return f"the host file behind a symlink was exported as {path}"
    return None


_ISOLATION_PROBE = """
import json, os
secret_path, = __ARGS__
report = {"writable": [], "workspace_errors": [], "listing": {}}
for d in ("/", "/usr", "/etc", "/bin", "/lib", "/sbin", "/var"):
    try:
        with open(os.path.join(d, "selftest-write-probe"), "w") as f:
            f.write("x")
        report["writable"].append(d)
    except OSError:
        pass
for d in (os.getcwd(), "/tmp"):
    try:
        path = os.path.join(d, ".selftest-write-probe")
        with open(path, "w") as f:
            f.write("x")
        os.unlink(path)
    except OSError as e:
        report["workspace_errors"].append(f"{d}: {e}")
for d in ("/root", "/home", "/app", "/srv", "/var/lib"):
    try:
        report["listing"][d] = sorted(os.listdir(d))[:500]
    except OSError:
        report["listing"][d] = []
report["env"] = dict(os.environ)
for path in (secret_path, "/proc/1/environ", "/proc/self/environ"):
    try:
        with open(path, "rb") as f:
            report[path] = f.read(1 << 16).decode("utf-8", "replace")
    except OSError:
        pass
print("PROBE " + json.dumps(report))
"""


def _isolation_code(ctx: Context) -> str:
    return _ISOLATION_PROBE.replace("__ARGS__", repr((ctx.secret().path,)))


def _check_isolation(out: Outcome, ctx: Context) -> str | None:
    if ctx.secret().token in out.output:
        return "the host's secret (a file or an environment variable) was visible in the sandbox"
    report = checks.probe(out.output)
    if report is None:
        return f"the isolation probe printed no report ({out.output[:300]!r})"
    if report.get("writable"):
        return f"the sandbox could write to {', '.join(report['writable'])}"
    if report.get("workspace_errors"):
        return f"the workspace is not writable: {report['workspace_errors']}"
    for directory, entries in (report.get("listing") or {}).items():
        try:
            host_entries = set(os.listdir(directory))
        except OSError:
            continue
        shared = sorted(set(entries) & host_entries - ({"user"} if directory == "/home" else set()))
        if shared:
            return f"the host's {directory} shows through: {', '.join(shared[:10])}"
    return None


def _secret_env(ctx: Context) -> Mapping[str, str]:
    return {probes.SECRET_ENV: ctx.secret().token}


async def _no_outbound_network(target: Target, ctx: Context) -> str | None:
    valves = {"CHECK_FOR_UPDATES": True, "AUTO_INSTALL": True}
    if target.kind != "library":
        attempts: list[str] = []
        with _network_guard(attempts):
            out = await target.run(
                ctx.request("python", SAMPLE_CODE["python"], valves=valves, in_process=True)
            )
        if attempts:
            return f"the run tried to reach the network: {attempts[:5]}"
        if out.status != "OK":
            return f"the run failed without network: status {out.status}"
    if not targets.network_isolation_available():
        ctx.notes.append("no fresh network namespace available here; checked in-process only")
        return None
    out = await target.run(ctx.request("python", SAMPLE_CODE["python"], valves=valves, isolate_network=True))
    if out.status != "OK":
        return f"with no network at all the run failed: status {out.status}"
    ctx.notes.append(f"ran in a network namespace with no interfaces in {out.elapsed_s:.1f} s")
    return None


class _network_guard:
    """Refuses (and records) every Internet socket connection and name lookup
    this process's Python code makes while active."""

    def __init__(self, attempts: list[str]) -> None:
        self._attempts = attempts
        self._saved: dict[str, object] = {}

    def __enter__(self) -> None:
        import socket

        attempts = self._attempts
        self._saved = {
            "connect": socket.socket.connect,
            "connect_ex": socket.socket.connect_ex,
            "getaddrinfo": socket.getaddrinfo,
        }
        real_connect = socket.socket.connect
        real_connect_ex = socket.socket.connect_ex

        def refuse(what: str) -> OSError:
            attempts.append(what)
            return OSError(101, "network unreachable (self-test guard)")

        def connect(sock: socket.socket, address: object) -> None:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                raise refuse(f"connect {address!r}")
            real_connect(sock, address)  # type: ignore[arg-type]

        def connect_ex(sock: socket.socket, address: object) -> int:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                raise refuse(f"connect {address!r}")
            return real_connect_ex(sock, address)  # type: ignore[arg-type]

        def getaddrinfo(host: object, *args: object, **kwargs: object) -> list[object]:
            raise refuse(f"getaddrinfo {host!r}")

        socket.socket.connect = connect  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = connect_ex  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = getaddrinfo  # type: ignore[assignment]

    def __exit__(self, *exc: object) -> None:
        import socket

        socket.socket.connect = self._saved["connect"]  # type: ignore[method-assign,assignment]
        socket.socket.connect_ex = self._saved["connect_ex"]  # type: ignore[method-assign,assignment]
        socket.getaddrinfo = self._saved["getaddrinfo"]  # type: ignore[assignment]


EXTRA_CASES: tuple[Case, ...] = (
    Case(
        "timeout_keeps_output",
        "python",
        "print('printed before the deadline', flush=True)\nimport time\ntime.sleep(60)\n",
        ("TIMEOUT",),
        {"MAX_RUNTIME_SECONDS": 3},
        check=_check_timeout_output,
        shared_storage=False,
    ),
    Case(
        "ram_hog_enforced",
        "python",
        _BIG_HOG,
        ("INTERRUPTED", "SANDBOX_ERROR"),
        {"MAX_RAM_MEGABYTES": 128, "REQUIRE_RESOURCE_LIMITING": True, "DEBUG": True},
        check=_check_ram_hog,
        shared_storage=False,
    ),
    Case(
        "network_off",
        "python",
        _network_probe_code,
        check=_check_network(network_on=False),
        shared_storage=False,
    ),
    Case(
        "network_on_stays_outbound_only",
        "python",
        _network_probe_code,
        ("OK", "SANDBOX_ERROR"),
        {"NETWORKING_ALLOWED": True},
        check=_check_network(network_on=True),
        shared_storage=False,
    ),
    Case("fork_bomb", scenario=_fork_bomb, shared_storage=False),
    Case("output_flood", "python", _FLOOD, ("OK", "INTERRUPTED"), check=_check_flood, shared_storage=False),
    Case("concurrent_runs", scenario=_concurrent_runs, shared_storage=False),
    Case("two_users", scenario=_two_users, shared_storage=False),
    Case(
        "symlink_not_exported",
        "bash",
        _symlink_code,
        files={"ok.txt": FileExpect(content_has=(b"fine",))},
        check=_check_symlink,
        shared_storage=False,
    ),
    Case(
        "read_only_root_and_no_host_secrets",
        "python",
        _isolation_code,
        check=_check_isolation,
        shared_storage=False,
        env=_secret_env,
    ),
    Case("no_outbound_network", scenario=_no_outbound_network, shared_storage=False),
    Case(
        "ls_and_stat_work",
        "bash",
        "ls -la / /tmp >/dev/null && stat -c %F /tmp >/dev/null && echo 'coreutils ok'\n",
        check=_check_coreutils,
        shared_storage=False,
    ),
)

SUITES = {
    "tool": TOOL_CASES + EXTRA_CASES,
    "function": FUNCTION_CASES + EXTRA_CASES,
    # The tool's cases are the function's first four and last two.
    "library": FUNCTION_CASES + EXTRA_CASES,
}
