"""A session's files and snapshots, handled inside its sandbox.

The host sends one request frame per operation and gets one reply frame back. Paths are
relative to the working directory and may not lead out of it: absolute paths, `..` and
links pointing outside are refused. (The sandbox is the boundary either way; this keeps the
files API about the session's own files.)

A snapshot is the session's picklable globals, the modules it imported and its working
directory, pickled and compressed into one opaque blob. It is made and read only here, in a
sandbox: the host stores and returns the bytes and never unpickles them.
"""

import base64
import io
import os
import pickle
import stat
import tarfile
import types
import zlib

SNAPSHOT_VERSION = 1


class Refused(Exception):
    """A path or request the files API does not take; `status` says how."""

    def __init__(self, message, status="refused"):
        super().__init__(message)
        self.status = status


def confined(workdir, relative):
    """The real path of `relative` in the working directory, or Refused."""
    parts = relative.split("/")
    if not relative or relative.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise Refused(f"{relative!r} is not a relative path inside the working directory")
    real = os.path.realpath(os.path.join(workdir, *parts))
    if real != workdir and not real.startswith(workdir + os.sep):
        raise Refused(f"{relative!r} leads outside the working directory")
    return real


def put(workdir, request):
    path = confined(workdir, request["path"])
    data = base64.b64decode(request["data"])
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Checked again once the directories exist: one of them may have been a link.
    if confined(workdir, request["path"]) != path:
        raise Refused(f"{request['path']!r} leads outside the working directory")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return {"type": "file_op", "ok": True, "size": len(data)}


def get(workdir, request):
    path = confined(workdir, request["path"])
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        raise Refused(f"{request['path']!r} does not exist", "not_found") from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"{request['path']!r} is not a regular file")
        if info.st_size > request["max_bytes"]:
            raise Refused(f"{request['path']!r} is larger than {request['max_bytes']} bytes", "too_large")
        data = f.read(request["max_bytes"] + 1)
    if len(data) > request["max_bytes"]:
        raise Refused(f"{request['path']!r} is larger than {request['max_bytes']} bytes", "too_large")
    return {"type": "file_op", "ok": True, "size": len(data), "data": base64.b64encode(data).decode("ascii")}


def snapshot(namespace, workdir, request):
    values, modules, skipped = {}, {}, []
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            modules[name] = value.__name__
            continue
        if type(value).__name__ == "LazyModule":
            continue  # bound again at the restored session's start
        try:
            values[name] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            skipped.append(name)
    files = io.BytesIO()
    with tarfile.open(fileobj=files, mode="w") as tar:
        for entry in sorted(os.listdir(workdir)):
            tar.add(os.path.join(workdir, entry), arcname=entry, recursive=True)
    state = {"version": SNAPSHOT_VERSION, "values": values, "modules": modules, "files": files.getvalue()}
    blob = zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
    if len(blob) > request["max_bytes"]:
        raise Refused(f"the snapshot is {len(blob)} bytes, more than {request['max_bytes']}", "too_large")
    return {
        "type": "snapshot",
        "data": base64.b64encode(blob).decode("ascii"),
        "size": len(blob),
        "skipped": sorted(skipped),
    }


def restore(namespace, data, workdir):
    """Start from a snapshot: its files, its modules, its values. Returns warnings for
    what could not be brought back."""
    import importlib

    try:
        state = pickle.loads(zlib.decompress(base64.b64decode(data)))
        if state.get("version") != SNAPSHOT_VERSION:
            return [f"the snapshot is of version {state.get('version')!r}, not {SNAPSHOT_VERSION}: nothing restored"]
    except Exception as error:
        return [f"the snapshot could not be read: {type(error).__name__}: {error}"]
    warnings = []
    with tarfile.open(fileobj=io.BytesIO(state["files"])) as tar:
        tar.extractall(workdir, filter="data")
    for name, module in state["modules"].items():
        try:
            namespace[name] = importlib.import_module(module)
        except Exception as error:
            warnings.append(f"module {module} (as {name}) could not be imported: {error}")
    for name, value in state["values"].items():
        try:
            namespace[name] = pickle.loads(value)
        except Exception as error:
            warnings.append(f"{name} could not be restored: {type(error).__name__}: {error}")
    return warnings


def handle(request, namespace, workdir):
    """One files or snapshot request; its reply frame."""
    try:
        kind = request.get("type")
        if kind == "put":
            return put(workdir, request)
        if kind == "get":
            return get(workdir, request)
        if kind == "snapshot":
            return snapshot(namespace, workdir, request)
        raise Refused(f"unknown request {kind!r}")
    except Refused as error:
        return {"type": "file_op", "ok": False, "status": error.status, "message": str(error)}
    except (IsADirectoryError, NotADirectoryError, FileExistsError) as error:
        return {"type": "file_op", "ok": False, "status": "refused", "message": str(error)}
