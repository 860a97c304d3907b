# The in-sandbox executor of a pre-booted (warm) sandbox.
#
# It starts before any user code, with the interpreter already loaded, says
# it is ready, then reads ONE request (JSON) from its stdin, which is the
# host's control channel. The channel is closed before the user's code runs,
# so that code can neither read nor write it. Each sandbox serves exactly one
# request and is then destroyed by the host. Everything it needs is imported
# before it says it is ready: imports are slow under gVisor.
import atexit
import base64
import json
import linecache
import os
import resource
import sys
import threading
import traceback


def _stdin_from(data: bytes) -> None:
    # The code's stdin: the request's bytes, behind a memory file. dup2 over
    # fd 0 also closes the control channel, our only reference to it.
    fd = os.memfd_create("stdin")
    os.write(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    os.dup2(fd, 0)
    os.close(fd)


def _run_python(code: str, path: str) -> None:
    # Tracebacks show the code's lines as they would for a file.
    linecache.cache[path] = (len(code), None, code.splitlines(True), path)
    sys.argv = [path]
    sys.path[0] = os.path.dirname(path)
    # As a fresh interpreter would: the request's PYTHONPATH right after the
    # script's directory (this interpreter started before it was known).
    extra = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[1:1] = extra
    try:
        compiled = compile(code, path, "exec")
    except SyntaxError as e:
        traceback.print_exception(type(e), e, None)
        sys.exit(1)
    main = type(sys)("__main__")
    main.__file__ = path
    sys.modules["__main__"] = main
    try:
        exec(compiled, main.__dict__)
    except SystemExit:
        raise
    except BaseException as e:
        # Leave out the executor's own frame.
        traceback.print_exception(type(e), e, e.__traceback__.tb_next if e.__traceback__ else None)
        sys.exit(1)


def _exit_status(e: SystemExit) -> int:
    # As the interpreter turns SystemExit into a process status.
    if e.code is None:
        return 0
    if isinstance(e.code, int):
        return e.code & 0xFF
    print(e.code, file=sys.stderr)
    return 1


def _run_to_end(code: str, path: str, marker: str) -> None:
    # Runs the code, then ends as the interpreter's own exit would (threads
    # joined, atexit handlers, output flushed) and says so on stderr: the
    # host then has the result without waiting for the sandbox to shut down.
    # A child the code forked, and a run without a marker, exit the ordinary
    # way.
    owner = os.getpid()
    try:
        _run_python(code, path)
        status = 0
    except SystemExit as e:
        if os.getpid() != owner or not marker:
            raise
        status = _exit_status(e)
    if os.getpid() != owner or not marker:
        return
    threading._shutdown()  # type: ignore[attr-defined]
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            if stream is not None:
                stream.flush()
        except Exception:
            pass
    try:
        os.write(2, ("%s%d\n" % (marker, status)).encode())
    finally:
        os._exit(status)


def main() -> None:
    os.write(1, b"\x06")  # ready
    raw = b""
    while True:
        chunk = os.read(0, 1 << 20)
        if not chunk:
            break
        raw += chunk
    request = json.loads(raw)
    max_pids = int(request.get("maxPids", 0))
    if max_pids > 0:
        resource.setrlimit(resource.RLIMIT_NPROC, (max_pids, max_pids))
    os.environ.clear()
    os.environ.update(request.get("env", {}))
    _stdin_from(base64.b64decode(request.get("stdin", "")))
    code = request["code"]
    argv = request["argv"]
    if request.get("inProcessPython"):
        _run_to_end(code, argv[-1], request.get("endMarker", ""))
        return
    fd = os.memfd_create("code", 0)
    os.write(fd, code.encode())
    os.execve(argv[0], argv[:-1] + ["/proc/self/fd/%d" % fd], dict(os.environ))


main()
