# Runs an exec's Python code, argv[1] the code file: starts in LIBSANDBOX_CWD
# when the call named one, else restores the cwd the last exec ended in; runs
# the code, records the cwd at exit (so os.chdir counts; not after a named
# cwd: that call was a one-off). The recorded cwd is trusted no further than
# being a directory under /home/user or /tmp.
import atexit, os, runpy, sys
def _libsandbox_cwd():
    named = os.environ.pop('LIBSANDBOX_CWD', '')
    if named:
        try:
            os.chdir(named)
        except OSError as e:
            sys.stderr.write('cwd: %s: %s\n' % (named, e.strerror))
            sys.exit(1)
        return True
    try:
        with open('/tmp/.libsandbox-session/cwd') as f:
            c = f.read(4096)
    except OSError:
        c = ''
    ok = (c in ('/home/user', '/tmp') or c.startswith(('/home/user/', '/tmp/'))) and \
        '/..' not in c
    try:
        os.chdir(c if ok else '/home/user')
    except OSError:
        os.chdir('/home/user')
    return False
def _libsandbox_save():
    try:
        os.makedirs('/tmp/.libsandbox-session', exist_ok=True)
        with open('/tmp/.libsandbox-session/cwd', 'w') as f:
            f.write(os.getcwd())
    except OSError:
        pass
_libsandbox_named = _libsandbox_cwd()
# begin record-cwd (a background process leaves this part out)
if not _libsandbox_named:
    atexit.register(_libsandbox_save)
# end record-cwd
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
