"""Airlock's Python runner: runs one piece of user code inside the sandbox and reports
what a notebook user expects -- the value of the last expression, a clean exception,
every chart left open, the files written to ./outputs/ -- to the host.

Protocol: the host writes one request frame to fd 3 and closes it; the runner writes
frames to fd 4. A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON.
Nothing here is trusted by the host: the user's code runs in this same process and could
write anything to the channel; the host caps and validates every frame.

The runner is the first Python code in the process and does, in order: read the request,
forbid starting programs (a seccomp filter, unless the request allows it), bind the
pre-imported names lazily, run the code, collect results, report, exit.
"""

# Only what every run needs is imported up front: the interpreter's start is part of
# every run's latency. `ast` is replaced by the C module `_ast`; traceback, linecache,
# base64, io and warnings are imported where they are used.
import _ast
import builtins
import json
import os
import stat
import struct
import sys
import types

REQUEST_FD = 3
CHANNEL_FD = 4
PROTOCOL_VERSION = 1
WORKDIR = "/work"
OUTPUTS = "outputs"


def read_request():
    chunks = []
    while True:
        chunk = os.read(REQUEST_FD, 1 << 20)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(REQUEST_FD)
    data = b"".join(chunks)
    (length,) = struct.unpack(">I", data[:4])
    return json.loads(data[4 : 4 + length].decode("utf-8"))


def read_frame(fd):
    """One length-prefixed JSON frame from `fd`, or None at end of file (a session's
    host keeps the descriptor open and writes one frame per call)."""

    def exactly(count):
        data = b""
        while len(data) < count:
            chunk = os.read(fd, count - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    header = exactly(4)
    if header is None:
        return None
    (length,) = struct.unpack(">I", header)
    body = exactly(length)
    return None if body is None else json.loads(body.decode("utf-8"))


class Channel:
    """Frames to the host, on a descriptor moved out of the user's way."""

    def __init__(self, fd, target=1000):
        # A high, close-on-exec copy: programs the code starts do not inherit it, and
        # code that closes "its" descriptors 3 and 4 does not cut the runner off.
        os.dup2(fd, target, inheritable=False)
        os.close(fd)
        self.fd = target
        self.broken = False
        self._write = os.write
        self._dumps = json.dumps

    def send(self, frame):
        """Send a frame; if the code closed or replaced the channel, stop trying (the
        host then judges the run by its exit status alone)."""
        if self.broken:
            return
        # Lone surrogates (from odd exception messages) become "?" rather than an error.
        body = self._dumps(frame, ensure_ascii=False, allow_nan=False).encode("utf-8", "replace")
        data = struct.pack(">I", len(body)) + body
        view = memoryview(data)
        try:
            while view:
                written = self._write(self.fd, view)
                view = view[written:]
        except OSError:
            self.broken = True


def forbid_exec():
    """Install a seccomp filter that makes execve and execveat fail with EPERM.

    The jail set no_new_privs already; filters only ever add restrictions, so this one
    stacks on the jail's allow-list and lasts for every process the code forks.
    """
    import ctypes

    arches = {
        "x86_64": (0xC000003E, 59, 322),
        "aarch64": (0xC00000B7, 221, 281),
    }
    machine = os.uname().machine
    if machine not in arches:
        raise OSError(f"no exec filter for architecture {machine}")
    audit_arch, execve, execveat = arches[machine]
    ld_abs, jeq, ret = 0x20, 0x15, 0x06
    kill_process, allow, errno_eperm = 0x80000000, 0x7FFF0000, 0x00050000 | 1

    class SockFilter(ctypes.Structure):
        _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint)]

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(SockFilter))]

    program = [
        (ld_abs, 0, 0, 4),  # architecture
        (jeq, 1, 0, audit_arch),
        (ret, 0, 0, kill_process),
        (ld_abs, 0, 0, 0),  # system call number
        (jeq, 2, 0, execve),
        (jeq, 1, 0, execveat),
        (ret, 0, 0, allow),
        (ret, 0, 0, errno_eperm),
    ]
    filters = (SockFilter * len(program))(*[SockFilter(*insn) for insn in program])
    prog = SockFprog(len(program), filters)
    libc = ctypes.CDLL(None, use_errno=True)
    before = seccomp_filters()
    pr_set_seccomp, seccomp_mode_filter = 22, 2
    if libc.prctl(pr_set_seccomp, seccomp_mode_filter, ctypes.byref(prog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECCOMP)")
    if seccomp_filters() != before + 1:
        raise OSError("the exec filter did not take effect")


def seccomp_filters():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Seccomp_filters:"):
                return int(line.split()[1])
    return 0


class LazyModule(types.ModuleType):
    """A pre-bound name (np, pd, plt, sns) that imports its module on first use, so code
    that never touches it does not pay for the import."""

    def __init__(self, alias, target, namespace):
        super().__init__(target)
        self.__dict__["_airlock_target"] = (alias, target, namespace)

    def _load(self):
        import importlib

        alias, target, namespace = self.__dict__["_airlock_target"]
        module = importlib.import_module(target)
        if namespace.get(alias) is self:
            namespace[alias] = module
        return module

    def __getattr__(self, name):
        return getattr(self._load(), name)

    def __dir__(self):
        return dir(self._load())


PREBOUND = (("np", "numpy"), ("pd", "pandas"), ("plt", "matplotlib.pyplot"), ("sns", "seaborn"))


def prebind(namespace):
    import importlib.util

    for alias, target in PREBOUND:
        try:
            found = importlib.util.find_spec(target.split(".")[0]) is not None
        except (ImportError, ValueError):
            found = False
        if found:
            namespace[alias] = LazyModule(alias, target, namespace)


def configure_matplotlib(font):
    """Agg only, and a CJK font when the host has one (labels in Chinese render)."""
    os.environ["MPLBACKEND"] = "Agg"
    if not font:
        return

    def on_import():
        import matplotlib
        from matplotlib import font_manager

        font_manager.fontManager.addfont(font)
        name = font_manager.FontProperties(fname=font).get_name()
        matplotlib.rcParams["font.sans-serif"] = [name] + list(matplotlib.rcParams["font.sans-serif"])
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False

    class FontHook:
        """Configures the font the moment matplotlib is imported (not before). A
        find_spec that is only a probe (nothing loaded) leaves the hook in place."""

        def find_spec(self, fullname, path=None, target=None):
            if fullname != "matplotlib" or self not in sys.meta_path:
                return None
            import importlib.util

            sys.meta_path.remove(self)
            try:
                spec = importlib.util.find_spec(fullname)
            finally:
                sys.meta_path.insert(0, self)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            original = loader.exec_module
            hook = self

            def exec_module(module):
                if hook in sys.meta_path:
                    sys.meta_path.remove(hook)
                original(module)
                try:
                    on_import()
                except Exception:  # a font problem must never break the user's code
                    pass

            loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, FontHook())


def to_json(value, limits, depth=0):
    """A JSON-friendly form of the last expression's value."""
    rows = limits["rows"]
    text_cap = limits["text"]
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**63 else str(value)
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else None
    if isinstance(value, str):
        return value[:text_cap]
    if depth > 8:
        return repr(value)[:text_cap]
    np = sys.modules.get("numpy")
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, pd.DataFrame):
        head = value.head(rows)
        return {
            "type": "dataframe",
            "columns": [str(c) for c in head.columns],
            "index": [to_json(i, limits, depth + 1) for i in head.index.tolist()],
            "data": [[to_json(v, limits, depth + 1) for v in row] for row in head.itertuples(index=False, name=None)],
            "shape": list(value.shape),
            "truncated": len(value) > rows,
        }
    if pd is not None and isinstance(value, pd.Series):
        head = value.head(rows)
        return {
            "type": "series",
            "name": to_json(value.name, limits, depth + 1),
            "index": [to_json(i, limits, depth + 1) for i in head.index.tolist()],
            "data": [to_json(v, limits, depth + 1) for v in head.tolist()],
            "shape": list(value.shape),
            "truncated": len(value) > rows,
        }
    if np is not None and isinstance(value, np.generic):
        return to_json(value.item(), limits, depth + 1)
    if np is not None and isinstance(value, np.ndarray):
        flat = value.reshape(-1)[: rows * 10] if value.ndim > 1 else value[:rows]
        data = value.tolist() if value.size <= rows * 10 else flat.tolist()
        return {
            "type": "ndarray",
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "data": to_json(data, limits, depth + 1),
            "truncated": value.size > rows * 10,
        }
    if isinstance(value, dict):
        items = list(value.items())[:rows]
        return {str(k)[:text_cap]: to_json(v, limits, depth + 1) for k, v in items}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_json(v, limits, depth + 1) for v in list(value)[:rows]]
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        try:
            return iso()
        except Exception:
            pass
    try:
        return repr(value)[:text_cap]
    except Exception as error:  # a hostile __repr__
        return f"<unrepresentable {type(value).__name__}: {type(error).__name__}>"


def describe_exception(error, filename, code):
    """Type, message, a traceback of the user's frames only, and the user's line."""
    import linecache
    import traceback

    linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
    tb = traceback.TracebackException.from_exception(error)
    user_frames = [f for f in tb.stack if f.filename == filename]
    line = user_frames[-1].lineno if user_frames else None
    if isinstance(error, SyntaxError) and error.filename == filename:
        line = error.lineno
    lines = ["Traceback (most recent call last):\n"] if user_frames else []
    lines += traceback.StackSummary.from_list(user_frames).format()
    lines += list(tb.format_exception_only())
    try:
        message = str(error)
    except Exception:
        message = "<unprintable message>"
    return {
        "type": "exception",
        "exc_type": type(error).__name__,
        "message": message,
        "traceback": "".join(lines),
        "line": line,
    }


def collect_charts(channel, limits):
    """Every figure left open, as PNG; closed afterwards (a session's next call reports
    only the figures it makes)."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None:
        return
    try:
        send_charts(channel, limits, pyplot)
    finally:
        pyplot.close("all")


def send_charts(channel, limits, pyplot):
    import base64
    import io
    import warnings

    sent = 0
    for number in pyplot.get_fignums():
        if sent >= limits["charts"]:
            break
        buffer = io.BytesIO()
        try:
            # Warnings raised while drawing (a missing glyph) go to the result, not to
            # the user's stderr under the runner's name.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                pyplot.figure(number).savefig(buffer, format="png")
            for warning in {str(w.message) for w in caught}:
                channel.send({"type": "warning", "message": f"figure {number}: {warning}"})
        except Exception as error:
            channel.send({"type": "warning", "message": f"figure {number} could not be drawn: {error}"})
            continue
        data = buffer.getvalue()
        if len(data) > limits["chart_bytes"]:
            channel.send({"type": "warning", "message": f"figure {number} is larger than {limits['chart_bytes']} bytes"})
            continue
        channel.send({"type": "chart", "data": base64.b64encode(data).decode("ascii")})
        sent += 1


def output_files():
    """(relative name, path) of the regular files under ./outputs/, never following a link."""
    root = os.path.join(WORKDIR, OUTPUTS)
    try:
        if not stat.S_ISDIR(os.lstat(root).st_mode):
            return
    except OSError:
        return
    for directory, dirs, names in os.walk(root, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(directory, name)
            yield os.path.relpath(path, root), path


def outputs_state():
    """What ./outputs/ holds now: name -> (mtime, size), to tell a call's files apart."""
    state = {}
    for relative, path in output_files():
        try:
            info = os.lstat(path)
        except OSError:
            continue
        state[relative] = (info.st_mtime_ns, info.st_size)
    return state


def collect_files(channel, limits, before=None):
    """Regular files under ./outputs/ (only those new or changed since `before`, in a
    session), never following a link, within the caps."""
    import base64

    count, total = 0, 0
    for relative, path in output_files():
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                continue
            if before is not None and before.get(relative) == (info.st_mtime_ns, info.st_size):
                continue
            if count >= limits["files"] or total + info.st_size > limits["file_bytes"]:
                channel.send({"type": "warning", "message": f"output file {relative} left out: over the limit"})
                continue
            data = os.read(fd, limits["file_bytes"] - total + 1)
            if len(data) > limits["file_bytes"] - total:
                continue
        finally:
            os.close(fd)
        channel.send({"type": "file", "name": relative, "data": base64.b64encode(data).decode("ascii")})
        count += 1
        total += len(data)


def preload():
    """Import the environment's heavy modules before the request arrives (a sandbox
    waiting in a pool is then warm). The list comes from the host, at start."""
    import importlib

    for name in filter(None, os.environ.pop("AIRLOCK_PRELOAD", "").split(",")):
        try:
            importlib.import_module(name)
        except Exception:
            pass  # the code will meet the same error if it imports the module itself


def write_input_files(files, replace=False):
    """Files the caller gave, into the working directory (names checked by the host too);
    in a session a file given again replaces the one there."""
    import base64

    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_TRUNC if replace else os.O_EXCL)
    for item in files:
        name = item["name"]
        if "/" in name or name in (".", "..", OUTPUTS):
            continue
        fd = os.open(os.path.join(WORKDIR, name), flags, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64decode(item["data"]))


def main():
    configure_matplotlib(os.environ.pop("AIRLOCK_FONT", None))
    preload()
    if os.environ.pop("AIRLOCK_SESSION", None) == "1":
        session()
    else:
        serve(exec_forbidden=False)


def start(channel, allow_run, exec_forbidden):
    """What every run does before the code: forbid starting programs unless allowed,
    the working directory on sys.path, ./outputs/, and a fresh __main__ with the
    pre-bound names. Returns its namespace."""
    if not allow_run and not exec_forbidden:
        try:
            forbid_exec()
        except Exception as error:
            channel.send({"type": "error", "message": f"could not forbid starting programs: {error}"})
            os._exit(126)
    sys.path.insert(0, WORKDIR)
    os.makedirs(os.path.join(WORKDIR, OUTPUTS), exist_ok=True)
    module = types.ModuleType("__main__")
    module.__dict__.update({"__builtins__": builtins})
    sys.modules["__main__"] = module
    prebind(module.__dict__)
    return module.__dict__


def run_code(channel, namespace, request, interruptible=False, before=None):
    """Run the request's code in `namespace` and report its value or exception, its
    charts and its output files; (outcome, exit code). `interruptible`: SIGINT raises
    KeyboardInterrupt in the code (and only there: the runner's own frames are never cut)."""
    import signal

    limits = request["limits"]
    filename = request.get("filename", "main.py")
    namespace["__file__"] = os.path.join(WORKDIR, filename)
    namespace.update(request.get("variables", {}))
    code = request["code"]
    outcome, exit_code = "ok", 0
    try:
        if interruptible:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            tree = compile(code, filename, "exec", _ast.PyCF_ONLY_AST)
            last = None
            if tree.body and isinstance(tree.body[-1], _ast.Expr):
                last = _ast.Expression(tree.body.pop().value)
            exec(compile(tree, filename, "exec"), namespace)
            value = None if last is None else eval(compile(last, filename, "eval"), namespace)
        finally:
            if interruptible:
                signal.signal(signal.SIGINT, signal.SIG_IGN)
        if value is not None:
            channel.send({"type": "value", "value": to_json(value, limits)})
    except SystemExit as error:
        code_value = error.code
        if code_value is None or code_value == 0:
            exit_code = 0
        elif isinstance(code_value, int):
            outcome, exit_code = "exit", code_value & 0xFF
        else:
            print(code_value, file=sys.stderr)
            outcome, exit_code = "exit", 1
    except BaseException as error:
        outcome, exit_code = "exception", 1
        channel.send(describe_exception(error, filename, code))
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    for collect in (collect_charts, lambda c, l: collect_files(c, l, before)):
        try:
            collect(channel, limits)
        except Exception as error:
            channel.send({"type": "warning", "message": f"collecting results: {type(error).__name__}: {error}"})
    return outcome, exit_code


def serve(exec_forbidden):
    """Say hello, read the request, run it, report, exit. A warm pool's child arrives here
    with starting programs already forbidden (its template installed the filter)."""
    channel = Channel(CHANNEL_FD)
    # "hello" says the runner is ready: a sandbox waiting in a pool is warm from here on.
    channel.send({"type": "hello", "version": PROTOCOL_VERSION})
    request = read_request()
    namespace = start(channel, request.get("allow_run", False), exec_forbidden)
    write_input_files(request.get("files", []))
    outcome, exit_code = run_code(channel, namespace, request)
    channel.send({"type": "done", "outcome": outcome, "exit_code": exit_code})
    os._exit(exit_code)


def load_session_state():
    """`session_state.py`, next to the runner: files and snapshots of a session."""
    import importlib.util

    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "session_state.py")
    spec = importlib.util.spec_from_file_location("airlock_session_state", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def session():
    """A session's interpreter: one namespace for every call. The host sends an "open"
    frame (what the session may do, and the state to start from), then one frame per
    call; each call's reply ends with a "done" frame. A SystemExit in the code ends the
    call, not the session; SIGINT is ignored between calls."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    channel = Channel(CHANNEL_FD)
    requests = os.dup2(REQUEST_FD, CHANNEL_FD + 997, inheritable=False)
    os.close(REQUEST_FD)
    channel.send({"type": "hello", "version": PROTOCOL_VERSION})
    opening = read_frame(requests) or {}
    namespace = start(channel, opening.get("allow_run", False), False)
    state = load_session_state()
    if opening.get("snapshot"):
        for warning in state.restore(namespace, opening["snapshot"], WORKDIR):
            channel.send({"type": "warning", "message": warning})
    channel.send({"type": "done", "outcome": "ok", "exit_code": 0})
    while True:
        request = read_frame(requests)
        if request is None:
            os._exit(0)
        kind = request.get("type")
        outcome = "ok"
        try:
            if kind == "execute":
                write_input_files(request.get("files", []), replace=True)
                outcome, _ = run_code(channel, namespace, request, True, outputs_state())
            else:
                channel.send(state.handle(request, namespace, WORKDIR))
        except Exception as error:
            outcome = "exception"
            channel.send({"type": "error", "message": f"{type(error).__name__}: {error}"})
        channel.send({"type": "done", "outcome": outcome, "exit_code": 0})


if __name__ == "__main__":
    main()
