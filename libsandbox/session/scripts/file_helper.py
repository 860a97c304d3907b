# A session's file operations, run inside its sandbox as its user, so the
# sandbox's own view and permissions decide what a path reaches.
# argv: op, path (relative: to /home/user), limit, then the op's own
# arguments. Exit 0: done, the answer on stdout; exit 3: stderr holds
# "ERRNAME message". Every open uses O_NONBLOCK (a FIFO cannot hang it) and
# reads or writes regular files only. Structured answers are JSON with names
# made valid UTF-8.
#   read PATH MAX           the bytes (EFBIG past MAX)
#   range PATH LENGTH OFF   "SIZE\n" then up to LENGTH bytes from OFF
#   write PATH 0            stdin replaces the file (parents made)
#   write_at PATH 0 OFF     stdin written at OFF, or appended when OFF is -1
#   list PATH MAX           DirListing
#   stat PATH 0             FileStat (a final symlink is not followed)
#   mkdir PATH PARENTS      makes it (PARENTS 1: and missing parents)
#   remove PATH RECURSIVE   a file, symlink or empty directory (RECURSIVE 1:
#                           a tree, never following its symlinks)
#   rename PATH 0 TO        refuses to replace TO (EEXIST)
#   find PATH MAX GLOB GREP REGEX   FindResult
#   archive . MAX           a zip of the NUL-separated paths on stdin
#   put . 0                 an exec's input files from stdin: each below
#                           /home/user, directories entered with O_NOFOLLOW
#                           (and no O_DIRECTORY: gVisor follows a final
#                           symlink when O_DIRECTORY is given), the file
#                           itself replaced, never followed
import errno, fnmatch, json, os, re, shutil, stat, sys

HOME = '/home/user'
op, path, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
extra = sys.argv[4:]
D = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
CHUNK = 1 << 16
GREP_FILE_BYTES = 8 << 20   # larger files are not searched
FIND_ENTRIES = 200000       # entries a find visits at most
LINE_SHOWN = 512


def fail(name, msg):
    sys.stderr.write(name + ' ' + msg)
    sys.exit(3)


def text(name):
    return os.fsencode(name).decode('utf-8', 'replace')


def regular(fd):
    m = os.fstat(fd).st_mode
    if stat.S_ISDIR(m):
        fail('EISDIR', 'is a directory')
    if not stat.S_ISREG(m):
        fail('EINVAL', 'is not a regular file')


def kind(m):
    return ('directory' if stat.S_ISDIR(m) else 'file' if stat.S_ISREG(m)
            else 'symlink' if stat.S_ISLNK(m) else 'other')


def describe(p, st, name):
    m = st.st_mode
    return {'name': text(name), 'type': kind(m), 'size': st.st_size, 'mtime': st.st_mtime,
            'mode': stat.S_IMODE(m),
            'writable': not stat.S_ISLNK(m) and os.access(p, os.W_OK)}


def opendir(name, dir_fd=None):
    fd = os.open(name, D, dir_fd=dir_fd)
    if not stat.S_ISDIR(os.fstat(fd).st_mode):
        os.close(fd)
        raise NotADirectoryError(errno.ENOTDIR, 'not a directory')
    return fd


def put():
    src = sys.stdin.buffer
    head = src.read(int(src.readline()))
    fields = head.split(b'\0')
    for i in range(0, len(fields) - 1, 2):
        put_one(src, fields[i], int(fields[i + 1]))


def put_one(src, rel, size):
    parts = [x for x in rel.split(b'/') if x not in (b'', b'.')]
    fd = opendir(HOME.encode())
    try:
        for part in parts[:-1]:
            try:
                os.mkdir(part, 0o755, dir_fd=fd)
            except FileExistsError:
                pass
            sub = opendir(part, fd)
            os.close(fd)
            fd = sub
        tmp = b'.libsandbox-input.tmp'
        try:
            os.unlink(tmp, dir_fd=fd)
        except FileNotFoundError:
            pass
        f = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd)
        try:
            while size > 0:
                b = src.read(min(size, CHUNK))
                if not b:
                    fail('EIO', 'input ended early')
                size -= len(b)
                while b:
                    b = b[os.write(f, b):]
        finally:
            os.close(f)
        os.replace(tmp, parts[-1], src_dir_fd=fd, dst_dir_fd=fd)
    except OSError as e:
        fail(errno.errorcode.get(e.errno or 0, 'EIO'),
             '%s: %s' % (rel.decode('utf-8', 'replace'), e.strerror or ''))
    finally:
        os.close(fd)


def copy_in(fd):
    src = sys.stdin.buffer
    while True:
        b = src.read(CHUNK)
        if not b:
            break
        while b:
            b = b[os.write(fd, b):]


def open_for_writing(p, flags):
    d = os.path.dirname(p)
    if d:
        os.makedirs(d, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_NONBLOCK | os.O_NOCTTY | flags, 0o644)
    regular(fd)
    return fd


def read_range(p, out):
    length, offset = limit, int(extra[0])
    fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    regular(fd)
    size = os.fstat(fd).st_size
    out.write(b'%d\n' % size)
    while length > 0:
        b = os.pread(fd, min(length, 1 << 20), offset)
        if not b:
            break
        out.write(b)
        offset += len(b)
        length -= len(b)


def remove(p):
    if os.path.realpath(p) in (HOME, '/'):
        fail('EINVAL', 'refusing to remove the home directory itself')
    st = os.lstat(p)
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(p)
    elif limit:
        # Opens each directory by fd, never following a symlink in the tree.
        shutil.rmtree(p)
    else:
        os.rmdir(p)


def rename(p):
    to = os.path.join(HOME, extra[0])
    if os.path.realpath(p) == HOME:
        fail('EINVAL', 'refusing to move the home directory itself')
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        # RENAME_NOREPLACE: the kernel refuses to replace `to`, atomically.
        if libc.renameat2(-100, os.fsencode(p), -100, os.fsencode(to), 1) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.ENOSYS, errno.EINVAL):
            raise OSError(err, os.strerror(err))
    except (OSError, AttributeError) as e:
        if isinstance(e, OSError) and e.errno not in (None, errno.ENOSYS, errno.EINVAL):
            raise
    if os.path.lexists(to):
        fail('EEXIST', 'the target exists: %s' % text(extra[0]))
    os.rename(p, to)


def binary(head):
    return b'\0' in head


def find(p, out):
    glob, needle, use_regex = extra[0] or '*', extra[1], extra[2] == '1'
    pattern = re.compile(needle.encode()) if needle and use_regex else None
    matches, truncated, seen = [], False, 0

    def add(entry):
        nonlocal truncated
        if len(matches) >= limit:
            truncated = True
            return False
        matches.append(entry)
        return True

    def search(full):
        try:
            fd = os.open(full, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW)
        except OSError:
            return True
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode) or st.st_size > GREP_FILE_BYTES:
                return True
            with os.fdopen(fd, 'rb', closefd=False) as f:
                data = f.read(GREP_FILE_BYTES)
        finally:
            os.close(fd)
        if binary(data[:8192]):
            return True
        for n, line in enumerate(data.split(b'\n'), 1):
            hit = pattern.search(line) if pattern else needle.encode() in line
            if hit and not add({'path': text(full), 'line': n,
                                'text': text(line[:LINE_SHOWN].rstrip(b'\r'))}):
                return False
        return True

    if not os.path.isdir(p):
        os.lstat(p)  # ENOENT for a missing root
        fail('ENOTDIR', 'is not a directory')
    for root, dirs, files in os.walk(p, onerror=None, followlinks=False):
        dirs.sort()
        for name in sorted(dirs + files):
            seen += 1
            if seen > FIND_ENTRIES:
                truncated = True
                break
            full = os.path.join(root, name)
            if not fnmatch.fnmatchcase(name, glob):
                continue
            if not needle:
                if not add({'path': text(full)}):
                    break
            elif name in files and not search(full):
                break
        if truncated:
            break
    emit(out, {'matches': matches, 'truncated': truncated})


def emit(out, answer):
    out.write(json.dumps(answer).encode())


class Capped:
    # A write-only stream that fails once more than `cap` bytes went out.
    def __init__(self, out, cap):
        self.out, self.cap, self.n = out, cap, 0

    def write(self, b):
        self.n += len(b)
        if self.n > self.cap:
            fail('EFBIG', 'the archive is larger than %d bytes' % self.cap)
        return self.out.write(b)

    def flush(self):
        self.out.flush()


def archive(out):
    import zipfile
    names = [x for x in sys.stdin.buffer.read().split(b'\0') if x]
    with zipfile.ZipFile(Capped(out, limit), 'w', zipfile.ZIP_DEFLATED) as z:
        for raw in names:
            top = os.path.join(HOME.encode(), raw)
            st = os.lstat(top)
            base = os.path.dirname(os.path.normpath(top))
            if stat.S_ISREG(st.st_mode):
                z.write(top, os.path.relpath(top, base).decode('utf-8', 'replace'))
                continue
            if not stat.S_ISDIR(st.st_mode):
                continue
            for root, dirs, files in os.walk(top, followlinks=False):
                for name in sorted(files):
                    full = os.path.join(root, name)
                    if stat.S_ISREG(os.lstat(full).st_mode):
                        z.write(full, os.path.relpath(full, base).decode('utf-8', 'replace'))


p = os.path.join(HOME, path)
out = sys.stdout.buffer
try:
    if op == 'read':
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        regular(fd)
        n = 0
        while True:
            b = os.read(fd, CHUNK)
            if not b:
                break
            n += len(b)
            if n > limit:
                fail('EFBIG', 'is larger than %d bytes' % limit)
            out.write(b)
    elif op == 'range':
        read_range(p, out)
    elif op == 'write':
        fd = open_for_writing(p, 0)
        os.ftruncate(fd, 0)
        copy_in(fd)
    elif op == 'write_at':
        offset = int(extra[0])
        fd = open_for_writing(p, os.O_APPEND if offset < 0 else 0)
        if offset > 0:
            os.lseek(fd, offset, os.SEEK_SET)
        copy_in(fd)
    elif op == 'list':
        entries, more = [], False
        with os.scandir(p) as it:
            for e in it:
                if len(entries) >= limit:
                    more = True
                    break
                try:
                    entries.append(describe(e.path, e.stat(follow_symlinks=False), e.name))
                except OSError:
                    continue
        emit(out, {'entries': entries, 'truncated': more})
    elif op == 'stat':
        st = os.lstat(p)
        d = describe(p, st, os.path.basename(os.path.normpath(p)))
        d['path'] = text(os.path.normpath(p))
        if stat.S_ISLNK(st.st_mode):
            d['target'] = text(os.readlink(p))
        emit(out, d)
    elif op == 'mkdir':
        if limit:
            if os.path.lexists(p) and not os.path.isdir(p):
                fail('EEXIST', 'exists and is not a directory')
            os.makedirs(p, exist_ok=True)
        else:
            os.mkdir(p)
    elif op == 'remove':
        remove(p)
    elif op == 'rename':
        rename(p)
    elif op == 'find':
        find(os.path.normpath(p), out)
    elif op == 'archive':
        archive(out)
    elif op == 'put':
        put()
    out.flush()
except OSError as e:
    fail(errno.errorcode.get(e.errno or 0, 'EIO'), e.strerror or '')
