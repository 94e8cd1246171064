"""The fork server that runs inside the sandbox and starts every candidate process.

`genesis_core.sandbox` starts this file as a program (`python -I
sandbox_server.py CONFIG`) inside bubblewrap, or as a plain process where
bubblewrap is missing. It must only use the standard library: the sandbox
shows the Python installation and this one file, not genesis-core. It listens on a Unix socket in a folder only it can
reach; each connection asks for one candidate process:

- `run`: fork, drop privileges, exec an argv (a compiled binary, `python x.py`);
- `call`: fork, drop privileges, import a candidate module and call one of
  its functions with JSON arguments, writing the JSON return value to fd 3.

The request is one JSON line sent with five file descriptors (stdin, stdout,
stderr, the result pipe and a timing socket, all owned by the client, so the
client measures and caps what comes out; the timing socket carries two
one-byte marks around the function call, timestamped by the kernel). The answer is one JSON line when the process tree
is gone: exit code or signal, the seconds between fork and exit as measured
here, and whether this server killed it (timeout, client request).

Why a fork server: forking a warm interpreter (modules such as NumPy already
imported) costs about a millisecond, where a fresh sandboxed interpreter
costs 30-60 ms. Isolation between candidates comes from a fresh user id per
process tree (when the server runs as root): the tree cannot signal or
ptrace anything else, RLIMIT_NPROC counts only its own processes, and the
whole tree is killed by a helper that takes the same user id and sends
SIGKILL to everything it may signal.
"""

import json
import os
import random
import resource
import selectors
import signal
import socket
import sys
import time
import traceback

MAX_REQUEST_BYTES = 1 << 20
KILL_SWEEP_SECONDS = 5.0


def _limit(kind, value, slack=0):
    if value is None:
        return
    value = int(value)
    try:
        resource.setrlimit(kind, (value, value + slack))
    except (ValueError, OSError):
        soft, hard = resource.getrlimit(kind)
        if hard != resource.RLIM_INFINITY and value > hard:
            resource.setrlimit(kind, (hard, hard))


def apply_limits(limits):
    """RLIMITs for the candidate process, inherited by everything it starts."""
    mb = 1024 * 1024
    if limits.get("memory_mb"):
        _limit(resource.RLIMIT_AS, limits["memory_mb"] * mb)
    if limits.get("cpu_time_s"):
        # SIGXCPU at the soft limit (reported as a CPU-time kill), SIGKILL a second later.
        _limit(resource.RLIMIT_CPU, max(1, int(limits["cpu_time_s"] + 0.999)), slack=1)
    if limits.get("max_processes"):
        _limit(resource.RLIMIT_NPROC, limits["max_processes"])
    if limits.get("max_file_size_mb"):
        _limit(resource.RLIMIT_FSIZE, limits["max_file_size_mb"] * mb)
    _limit(resource.RLIMIT_CORE, 0)


def to_json(value):
    """JSON-ready copy of a return value: lists for tuples and arrays, plain numbers for NumPy scalars."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int, float, bool)):
                raise TypeError(f"a dict key of type {type(k).__name__}")
            out[str(k)] = to_json(v)
        return out
    tolist = getattr(value, "tolist", None)
    if callable(tolist):  # NumPy arrays and scalars
        return to_json(tolist())
    raise TypeError(f"a value of type {type(value).__module__}.{type(value).__name__}")


def call_in_child(request):
    """Import the candidate module and call the function; runs as the candidate (never returns)."""
    out = os.fdopen(3, "w", buffering=1)
    try:
        payload = json.loads(_read_all(0) or b"{}")
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        import importlib.util

        sys.path.insert(0, request["cwd"])
        spec = importlib.util.spec_from_file_location("candidate", request["module"])
        module = importlib.util.module_from_spec(spec)
        sys.modules["candidate"] = module
        spec.loader.exec_module(module)
        function = getattr(module, request["function"], None)
        if not callable(function):
            raise AttributeError(f"the candidate defines no function named {request['function']!r}")
        os.write(4, b"S")  # the client timestamps these two in the kernel (SO_TIMESTAMPNS)
        value = function(*payload.get("args", []), **payload.get("kwargs", {}))
        os.write(4, b"D")
        try:
            encoded = json.dumps({"value": to_json(value)})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{request['function']} returned {exc}, which cannot be sent back as JSON") from None
        out.write("R " + encoded + "\n")
        out.flush()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    except BaseException as exc:  # everything the candidate raises goes back as data
        try:
            tb = traceback.format_exc(limit=-8)
            out.write("E " + json.dumps({"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": tb[-6000:]}) + "\n")
            out.flush()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(1)


def _read_all(fd):
    chunks = []
    while True:
        chunk = os.read(fd, 1 << 16)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def prepare_child():
    """What a candidate process does before it knows its request: its own session, default signals."""
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def spare(channel):
    """A pre-forked candidate process: waits for its request, then becomes the candidate (never returns)."""
    try:
        prepare_child()
        data, fds = b"", []
        while not data.endswith(b"\n"):
            chunk, received, _, _ = socket.recv_fds(channel, 65536, 5)
            if not chunk:
                os._exit(0)  # the server went away or retired this spare
            data += chunk
            fds += received
        message = json.loads(data)
        identity = tuple(message["identity"]) if message["identity"] else None
    except BaseException:
        os._exit(126)
    child(message["request"], fds, identity)


def child(request, fds, identity):
    """The candidate process, prepared: fds, limits, identity, then exec or call (never returns)."""
    try:
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(5, 65536)
        os.chdir(request["cwd"])
        os.umask(0o007)
        apply_limits(request.get("limits", {}))
        if identity is not None:
            uid, gid = identity
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        env = request.get("env", {})  # changes to this server's own (already scrubbed) environment
        for name in env.get("unset", ()):
            os.environ.pop(name, None)
        for name, value in env.get("set", {}).items():
            os.environ[name] = value
        if request["op"] == "call":
            call_in_child(request)
        os.close(3)
        os.close(4)
        argv = request["argv"]
        os.execvp(argv[0], argv)
    except BaseException as exc:
        try:
            os.write(2, f"genesis sandbox: cannot start {request.get('argv') or request.get('function')}: {exc}\n".encode())
        finally:
            os._exit(127)


class Call:
    def __init__(self, conn, request, fds, uid):
        self.conn = conn
        self.request = request
        self.fds = fds
        self.uid = uid
        self.pid = None
        self.started = 0.0
        self.deadline = None
        self.killed = None
        self.status = None


class Server:
    def __init__(self, path, switch_user):
        self.switch_user = switch_user
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(64)
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.listener, selectors.EVENT_READ, "accept")
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.selector.register(self.wake_r, selectors.EVENT_READ, "child")
        self.calls = {}  # pid -> Call
        self.pending = {}  # conn -> bytes read so far
        self.uids = set()
        self.spare = None  # (pid, channel) of the pre-forked next candidate process

    def serve(self):
        while True:
            timeout = None
            now = time.monotonic()
            deadlines = [c.deadline for c in self.calls.values() if c.deadline is not None and c.killed is None]
            if deadlines:
                timeout = max(0.0, min(deadlines) - now)
            for key, _ in self.selector.select(timeout):
                if key.data == "accept":
                    conn, _ = self.listener.accept()
                    self.pending[conn] = b""
                    self.selector.register(conn, selectors.EVENT_READ, "conn")
                elif key.data == "child":
                    try:
                        while os.read(self.wake_r, 512):
                            pass
                    except BlockingIOError:
                        pass
                    self.reap()
                else:
                    self.readable(key.fileobj)
            now = time.monotonic()
            for call in list(self.calls.values()):
                if call.deadline is not None and call.killed is None and now >= call.deadline:
                    self.kill(call, "timeout")

    def readable(self, conn):
        call = next((c for c in self.calls.values() if c.conn is conn), None)
        if call is not None:  # a running call's client: 'kill <reason>' or gone
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if call.killed is None:
                reason = data.decode(errors="replace").split()[1] if data.startswith(b"kill ") else "client_gone"
                self.kill(call, reason)
            if not data:
                self.selector.unregister(conn)
            return
        try:
            data, fds, _, _ = socket.recv_fds(conn, 65536, 5)
        except OSError:
            data, fds = b"", []
        buffered = self.pending.get(conn, b"") + data
        if fds:
            self.pending[(conn, "fds")] = fds
        if not data or len(buffered) > MAX_REQUEST_BYTES:
            self.drop(conn)
            return
        if not buffered.endswith(b"\n"):
            self.pending[conn] = buffered
            return
        fds = self.pending.pop((conn, "fds"), [])
        self.pending.pop(conn, None)
        try:
            request = json.loads(buffered)
            if len(fds) != 5:
                raise ValueError(f"expected 5 file descriptors, got {len(fds)}")
            self.start(conn, request, fds)
        except Exception as exc:
            for fd in fds:
                os.close(fd)
            self.answer(conn, {"error": f"{type(exc).__name__}: {exc}"})
            self.drop(conn)

    def start(self, conn, request, fds):
        identity = None
        uid = None
        if self.switch_user:
            gid = int(request["gid"])
            uid = self.new_uid()
            identity = (uid, gid)
        started = time.monotonic()
        pid = self.hand_to_spare(request, fds, identity)
        if pid is None:
            pid = os.fork()
            if pid == 0:
                prepare_child()
                child(request, fds, identity)
        for fd in fds:
            os.close(fd)
        call = Call(conn, request, fds, uid)
        call.pid = pid
        call.started = started
        if request.get("timeout"):
            call.deadline = started + float(request["timeout"])
        self.calls[pid] = call
        if uid is not None:
            self.uids.add(uid)
        self.make_spare()  # the next request's process, forked while this one runs

    def make_spare(self):
        """Fork the next candidate process ahead of its request, so the fork is off the critical path."""
        if self.spare is not None:
            return
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:
            ours.close()
            spare(theirs)
        theirs.close()
        self.spare = (pid, ours)

    def hand_to_spare(self, request, fds, identity):
        """Give the request to the pre-forked process; its pid, or None when there is none."""
        if self.spare is None:
            return None
        pid, channel = self.spare
        self.spare = None
        try:
            message = json.dumps({"request": request, "identity": list(identity) if identity else None}) + "\n"
            socket.send_fds(channel, [message.encode()], fds)
        except OSError:
            return None
        finally:
            channel.close()
        return pid

    def new_uid(self):
        while True:
            uid = random.randrange(1 << 30, (1 << 31) - 2)
            if uid not in self.uids:
                return uid

    def kill(self, call, reason):
        call.killed = reason
        self.kill_tree(call)

    def kill_tree(self, call):
        """Kill every process of the call (all of its user id, or its process group); how many were alive."""
        if call.uid is None:
            try:
                os.killpg(call.pid, 0)
            except OSError:
                return 0
            try:
                os.killpg(call.pid, signal.SIGKILL)
            except OSError:
                pass
            return 1
        alive = count_alive(call.uid)
        if not alive:
            return 0
        killer = os.fork()
        if killer == 0:
            try:
                os.setuid(call.uid)
                end = time.monotonic() + KILL_SWEEP_SECONDS
                while True:
                    os.kill(-1, signal.SIGKILL)
                    if not count_alive(call.uid) or time.monotonic() > end:
                        break
                    time.sleep(0.001)
            finally:
                os._exit(0)
        while True:
            try:
                os.waitpid(killer, 0)
                break
            except ChildProcessError:
                break
            except InterruptedError:
                continue
        return alive

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            call = self.calls.pop(pid, None)
            if call is None:
                if self.spare is not None and self.spare[0] == pid:  # a spare that died waiting
                    self.spare[1].close()
                    self.spare = None
                continue
            seconds = time.monotonic() - call.started
            leftover = self.kill_tree(call)  # whatever it left behind (background children) goes too
            if call.uid is not None:
                self.uids.discard(call.uid)
            answer = {"seconds": seconds, "killed": call.killed, "leftover": leftover}
            if os.WIFSIGNALED(status):
                answer["signal"] = os.WTERMSIG(status)
                answer["returncode"] = -os.WTERMSIG(status)
            else:
                answer["returncode"] = os.WEXITSTATUS(status)
            self.answer(call.conn, answer)
            self.drop(call.conn)

    def answer(self, conn, message):
        try:
            conn.sendall((json.dumps(message) + "\n").encode())
        except OSError:
            pass

    def drop(self, conn):
        try:
            self.selector.unregister(conn)
        except (KeyError, ValueError):
            pass
        self.pending.pop(conn, None)
        for fd in self.pending.pop((conn, "fds"), []):
            os.close(fd)
        conn.close()


def count_alive(uid):
    """Live (not zombie) processes of `uid`, other than the caller."""
    me = os.getpid()
    count = 0
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/status") as f:
                status = f.read()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if int(fields.get("Uid", "0").split()[0]) == uid and not fields.get("State", "").strip().startswith(("Z", "X")):
            count += 1
    return count


def main(argv):
    config = json.loads(argv[1])
    import importlib.util  # noqa: F401 - what every call needs, imported before forking

    for name in config.get("preload", []):
        try:
            __import__(name)
        except Exception as exc:  # a missing optional module only costs speed
            print(f"genesis sandbox: could not preload {name}: {exc}", file=sys.stderr)
    os.umask(0o077)
    import gc

    gc.freeze()  # forked children then neither scan nor copy the preloaded objects
    server = Server(config["socket"], config["switch_user"])
    server.make_spare()
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    server.serve()


if __name__ == "__main__":
    main(sys.argv)
