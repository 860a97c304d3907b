# A session's ports, inside its sandbox as its user. argv: "list", or
# "relay PORT".
# list: the listening TCP sockets (from /proc/net/tcp and tcp6, which gVisor
#   keeps) as one PortListing in JSON, each with the process holding it
#   when /proc shows one (socket:[inode] among its fds).
# relay: connects to PORT on the loopback and says "+\n" on stdout, or
#   "-why\n" and exits 3; then copies stdin to the connection and the
#   connection to stdout until both ends close. Nothing leaves the sandbox:
#   the host holds the other end of stdin/stdout.
import json, os, select, socket, sys, threading

MAX_PORTS = 1024
MAX_COMMAND = 1024


def address(hex_ip):
    raw = bytes.fromhex(hex_ip)
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw[::-1])
    # /proc prints an IPv6 address as four host-order 32-bit words.
    words = b''.join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
    return socket.inet_ntop(socket.AF_INET6, words)


def listening():
    found = {}
    for name in ('/proc/net/tcp', '/proc/net/tcp6'):
        try:
            with open(name) as f:
                lines = f.read(1 << 22).splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != '0A':
                continue
            ip, port = fields[1].split(':')
            found.setdefault(fields[9], (int(port, 16), address(ip)))
    return found


def owners(inodes):
    out = {}
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir('/proc/%s/fd' % pid)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink('/proc/%s/fd/%s' % (pid, fd))
            except OSError:
                continue
            if link.startswith('socket:[') and link[8:-1] in inodes:
                out.setdefault(link[8:-1], int(pid))
    return out


def command(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            raw = f.read(MAX_COMMAND)
    except OSError:
        return ''
    return raw.rstrip(b'\0').replace(b'\0', b' ').decode('utf-8', 'replace')


def list_ports():
    socks = listening()
    who = owners(set(socks))
    ports = []
    for inode, (port, ip) in sorted(socks.items(), key=lambda kv: kv[1]):
        entry = {'port': port, 'address': ip}
        pid = who.get(inode)
        if pid:
            entry['pid'] = pid
            entry['command'] = command(pid)
        ports.append(entry)
    json.dump({'ports': ports[:MAX_PORTS]}, sys.stdout)


def read_some(fd):
    # The host's end may come in non-blocking: no data yet is not the end.
    while True:
        try:
            return os.read(fd, 65536)
        except BlockingIOError:
            select.select([fd], [], [])


def write_all(fd, data):
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view):]
        except BlockingIOError:
            select.select([], [fd], [])


def relay(port):
    conn = None
    why = 'nothing listens on port %d' % port
    for host in ('127.0.0.1', '::1'):
        try:
            conn = socket.create_connection((host, port), timeout=10)
            break
        except OSError as e:
            why = 'port %d: %s' % (port, e.strerror or e)
    if conn is None:
        write_all(1, ('-' + why + '\n').encode())
        sys.exit(3)
    conn.settimeout(None)
    write_all(1, b'+\n')

    def upstream():
        try:
            while True:
                data = read_some(0)
                if not data:
                    break
                conn.sendall(data)
        except OSError:
            pass
        try:
            conn.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        # The host may have closed its end for good: a server that never
        # closes must not keep this relay forever.
        threading.Timer(300, os._exit, (0,)).start()

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                break
            write_all(1, data)
    except OSError:
        pass


if sys.argv[1] == 'list':
    list_ports()
else:
    relay(int(sys.argv[2]))
