"""What crosses between the grader and the process that runs a learner's code.

The grader calls the learner's function in another process and keeps every verdict to itself,
so each call's arguments and each result travel between the two. This module turns values into
bytes and back, **never with pickle** (unpickling what learner code sent would run learner code in
the grader): a JSON tree plus raw byte blobs for array data.

It is standalone on purpose (the standard library and numpy only, no coursekit): the sandboxed
child runs a copy of this very file where coursekit itself is not available.

The tree (``t`` names the kind of a node):

* ``None``, ``bool``, ``int``, ``float`` (NaN and infinities too), ``str``: themselves;
* ``nd``: a numpy array of numbers, bools, bytes or text: dtype, shape, memory order and a blob
  with the data; ``sc``: a numpy scalar (``np.float32(1.5)``), sent as a 0-d array;
* ``ref``: an object the other side already holds, by its handle: identity survives the trip
  (``return params`` gives the caller its own arrays back); ``view``: an array that is a view of
  one the other side holds (a slice, a reshape): rebuilt as the same view of that array;
* ``list``, ``tuple``, ``set``, ``frozenset``, ``dict``, ``ntuple`` (a named tuple: its type's
  name and fields), ``complex``, ``bytes``;
* ``rng``: a ``numpy.random.Generator``, as its bit generator's state;
* ``fn``: a callable of the sender; calling it on the other side calls back into the sender;
* ``opaque``: anything else, shown by its type and ``repr``, never rebuilt.

**Identity and in-place changes.** Within one top-level call, every array, list, dict, tuple and
generator that crosses gets a handle on both sides. Each message carries ``sync``: the new
contents of every such object its sender changed since the last message (a function that writes
into its argument, a generator that drew numbers). The receiver writes them into its own object,
so the caller sees its arrays change in place just as if the function had run in its process.

**Limits.** A message holds at most ``MAX_MESSAGE_BYTES``, a tree nests at most ``MAX_DEPTH``
levels; anything malformed raises ``WireError`` (the grader then stops that process).
"""
from __future__ import annotations

import builtins
import collections
import inspect
import json
import math
import os
import re
import select
import struct
import time

import numpy as np

MAX_MESSAGE_BYTES = 256 << 20
MAX_DEPTH = 64
MAX_NAME = 200
_MAGIC = b"CKW1"
_HEAD = struct.Struct("!4sIQ")     # magic, number of blobs, length of the JSON part
_BLOB = struct.Struct("!Q")
_DTYPE = re.compile(r"^[<>|=]?[biufcSU][0-9]{1,5}$")
_BIT_GENERATORS = ("PCG64", "PCG64DXSM", "MT19937", "Philox", "SFC64")


class WireError(Exception):
    """A message that breaks the format or its limits."""


# ---------------------------------------------------------------------------------------
# Messages: a JSON object and byte blobs, length-prefixed
# ---------------------------------------------------------------------------------------

def pack(message: dict, blobs: list[bytes]) -> bytes:
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    parts = [_HEAD.pack(_MAGIC, len(blobs), len(body)), body]
    for blob in blobs:
        parts += [_BLOB.pack(len(blob)), blob]
    data = b"".join(parts)
    if len(data) > MAX_MESSAGE_BYTES:
        raise WireError(f"a message of {len(data)} bytes is over the limit of {MAX_MESSAGE_BYTES}")
    return data


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class Reader:
    """Reads whole messages from a file descriptor; ``deadline`` (a ``time.monotonic()`` value) bounds the wait."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.buffer = bytearray()
        self.total = 0

    def _fill(self, size: int, deadline: float | None) -> None:
        while len(self.buffer) < size:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                    raise TimeoutError("no answer in time")
            chunk = os.read(self.fd, max(size - len(self.buffer), 1 << 16))
            if not chunk:
                raise EOFError("the other side closed the connection")
            self.buffer += chunk

    def _take(self, size: int, deadline: float | None) -> bytes:
        self.total += size
        if self.total > MAX_MESSAGE_BYTES:
            raise WireError(f"a message over the limit of {MAX_MESSAGE_BYTES} bytes")
        self._fill(size, deadline)
        data = bytes(self.buffer[:size])
        del self.buffer[:size]
        return data

    def read(self, deadline: float | None = None) -> tuple[dict, list[bytes]]:
        self.total = 0
        magic, count, length = _HEAD.unpack(self._take(_HEAD.size, deadline))
        if magic != _MAGIC:
            raise WireError("not a message (bad magic bytes)")
        try:
            message = json.loads(self._take(length, deadline).decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            raise WireError(f"a message that is not JSON: {type(exc).__name__}") from None
        if not isinstance(message, dict):
            raise WireError("a message that is not a JSON object")
        blobs = []
        for _ in range(count):
            (size,) = _BLOB.unpack(self._take(_BLOB.size, deadline))
            blobs.append(self._take(size, deadline))
        return message, blobs


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

class Opaque:
    """Something the other side sent that is not rebuilt (a class instance, a module...): its type and repr."""

    def __init__(self, type_name: str, text: str) -> None:
        self.type_name, self.text = type_name, text

    def __repr__(self) -> str:
        return f"<{self.type_name} object: {self.text}>"


class _ShownDefault:
    """A parameter's default value as the other side showed it (its repr), for signatures."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _clip(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_repr(value) -> str:
    try:
        return _clip(repr(value))
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break the encoding
        return f"<{type(value).__name__}>"


def describe_signature(fn) -> list | None:
    """[[name, kind, default repr or None], ...] for a callable, or None when it has no readable signature."""
    try:
        signature = inspect.signature(fn)
    except (TypeError, ValueError):
        return None
    return [[p.name, int(p.kind), None if p.default is p.empty else _safe_repr(p.default)]
            for p in signature.parameters.values()]


def build_signature(described) -> inspect.Signature | None:
    """The ``inspect.Signature`` that ``describe_signature`` described; None when it is unusable."""
    if not isinstance(described, list) or len(described) > 64:
        return None
    try:
        return inspect.Signature([
            inspect.Parameter(name, inspect._ParameterKind(kind),
                              default=inspect.Parameter.empty if shown is None else _ShownDefault(_clip(str(shown))))
            for name, kind, shown in described])
    except (TypeError, ValueError):
        return None


def _array_header(a: np.ndarray) -> tuple[dict, bytes]:
    order = "F" if a.flags.f_contiguous and not a.flags.c_contiguous else "C"
    return ({"dtype": a.dtype.str, "shape": list(a.shape), "order": order, "ro": not a.flags.writeable},
            a.tobytes(order=order))


def _dtype(text) -> np.dtype:
    if not isinstance(text, str) or not _DTYPE.match(text):
        raise WireError(f"an array dtype that is not allowed: {_clip(repr(text), 40)}")
    dtype = np.dtype(text)
    if dtype.itemsize > 4096:
        raise WireError("an array dtype that is too wide")
    return dtype


def _shape(value) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > 32 or \
            not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 1 << 40 for n in value):
        raise WireError("an array shape that is not a short list of sizes")
    return tuple(value)


def _array_from(node: dict, blob: bytes) -> np.ndarray:
    dtype, shape = _dtype(node.get("dtype")), _shape(node.get("shape"))
    if math.prod(shape) * dtype.itemsize != len(blob):
        raise WireError("an array whose data does not match its shape")
    order = "F" if node.get("order") == "F" else "C"
    array = np.frombuffer(blob, dtype=dtype).reshape(shape, order=order).copy(order=order)
    if node.get("ro"):
        array.flags.writeable = False
    return array


def _view_of(base: np.ndarray, node: dict) -> np.ndarray | None:
    """The view ``node`` describes, of ``base``'s memory; None when it cannot be rebuilt safely."""
    if not (base.flags.c_contiguous or base.flags.f_contiguous) or node.get("layout") != _layout(base):
        return None
    dtype, shape = _dtype(node.get("dtype")), _shape(node.get("shape"))
    strides, offset = node.get("strides"), node.get("offset")
    if not (isinstance(strides, list) and len(strides) == len(shape) and isinstance(offset, int)
            and all(isinstance(s, int) and not isinstance(s, bool) for s in strides)):
        return None
    low = offset + sum(s * (n - 1) for s, n in zip(strides, shape) if s < 0 and n > 0)
    high = offset + sum(s * (n - 1) for s, n in zip(strides, shape) if s > 0 and n > 0) + dtype.itemsize
    if 0 in shape:
        low, high = offset, offset
    if low < 0 or high > base.nbytes or offset < 0:
        return None
    try:
        view = np.ndarray(shape, dtype=dtype, buffer=base, offset=offset, strides=strides)
    except (TypeError, ValueError, BufferError):
        return None
    if not base.flags.writeable:
        view.flags.writeable = False
    return view


def _layout(base: np.ndarray) -> list:
    return [base.dtype.str, list(base.shape), "F" if base.flags.f_contiguous and not base.flags.c_contiguous else "C"]


def _owner(array: np.ndarray):
    base = array.base
    while isinstance(base, np.ndarray) and base.base is not None and isinstance(base.base, np.ndarray):
        base = base.base
    return base


class Codec:
    """One side's encoder and decoder: handles for shared objects, our functions the other side may call.

    ``sign`` (+1 for the grader, -1 for the child) keeps both sides' handles apart.
    ``remote(fid, name, signature)`` makes the local stand-in of a function of the other side.
    """

    def __init__(self, sign: int, remote) -> None:
        self.sign, self.remote = sign, remote
        self.functions: dict[int, object] = {}     # our callables the other side may call, by id
        self._function_ids: dict[int, int] = {}
        self._remotes: dict[int, object] = {}
        self._named_tuples: dict[tuple, type] = {}
        self.begin()

    def begin(self) -> None:
        """Forget the shared objects: a new top-level call starts."""
        self.objects: dict[int, object] = {}
        self._handles: dict[int, int] = {}
        self._snapshots: dict[int, object] = {}
        self._counter = 0

    # -- shared objects
    def _register(self, value, handle: int | None = None) -> int:
        if handle is None:
            self._counter += 1
            handle = self.sign * self._counter
        self.objects[handle] = value
        self._handles[id(value)] = handle
        self._snapshots[handle] = self._snapshot(value)
        return handle

    def _snapshot(self, value):
        if isinstance(value, np.ndarray):
            return value.tobytes()
        if isinstance(value, (list, dict)):
            items = value.items() if isinstance(value, dict) else enumerate(value)
            return [(key, id(item)) for key, item in items]
        if isinstance(value, np.random.Generator):
            return json.dumps(value.bit_generator.state, sort_keys=True, default=str)
        return None

    def register_function(self, fn) -> int:
        fid = self._function_ids.get(id(fn))
        if fid is None:
            fid = self.sign * (len(self.functions) + 1)
            self.functions[fid] = fn
            self._function_ids[id(fn)] = fid
        return fid

    # -- encoding
    def encode(self, value, blobs: list[bytes], depth: int = 0):
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, int) and type(value) is int:   # noqa: E721 - not bool, not an int subclass
            return value if value.bit_length() < 4000 else self._opaque(value)
        if type(value) is float:   # noqa: E721
            return value
        if depth > MAX_DEPTH:
            return {"t": "opaque", "type": type(value).__name__, "repr": "(nested too deeply to send)"}
        handle = self._handles.get(id(value))
        if handle is not None and self.objects.get(handle) is value:
            return {"t": "ref", "h": handle}
        if isinstance(value, np.ndarray):
            return self._encode_array(value, blobs)
        if isinstance(value, np.generic):
            if value.dtype.kind not in "biufcSU":
                return self._opaque(value)
            header, data = _array_header(np.asarray(value))
            blobs.append(data)
            return {"t": "sc", "b": len(blobs) - 1, **header}
        if isinstance(value, complex):
            return {"t": "complex", "v": [value.real, value.imag]}
        if isinstance(value, (bytes, bytearray)):
            blobs.append(bytes(value))
            return {"t": "bytes", "b": len(blobs) - 1}
        if isinstance(value, np.random.Generator):
            return {"t": "rng", "h": self._register(value), "state": self._rng_state(value)}
        if isinstance(value, (list, tuple, set, frozenset, dict)):
            return self._encode_container(value, blobs, depth)
        if callable(value) and not isinstance(value, type):
            fid = self.register_function(value)
            return {"t": "fn", "f": fid, "name": _clip(str(getattr(value, "__name__", "function")), MAX_NAME),
                    "sig": describe_signature(value)}
        return self._opaque(value)

    def _opaque(self, value) -> dict:
        return {"t": "opaque", "type": _clip(type(value).__name__, MAX_NAME), "repr": _safe_repr(value)}

    def _rng_state(self, rng: np.random.Generator):
        state = rng.bit_generator.state
        return json.loads(json.dumps(state, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o)))

    def _encode_array(self, array: np.ndarray, blobs: list[bytes]) -> dict:
        if array.dtype.kind not in "biufcSU" or array.dtype.fields is not None or array.dtype.subdtype is not None:
            return self._opaque(array)
        owner = _owner(array)
        owner_handle = self._handles.get(id(owner)) if isinstance(owner, np.ndarray) else None
        header, data = _array_header(array)
        blobs.append(data)
        node = {"t": "nd", "b": len(blobs) - 1, **header}
        if owner_handle is not None and self.objects.get(owner_handle) is owner:
            start = owner.__array_interface__["data"][0]
            node.update(t="view", h=owner_handle, layout=_layout(owner), strides=list(array.strides),
                        offset=array.__array_interface__["data"][0] - start)
        node["id"] = self._register(array)
        return node

    def _encode_container(self, value, blobs: list[bytes], depth: int) -> dict:
        node: dict = {}
        if isinstance(value, (list, dict, tuple)):
            node["id"] = self._register(value)
        if isinstance(value, dict):
            node.update(t="dict", v=[[self.encode(k, blobs, depth + 1), self.encode(v, blobs, depth + 1)]
                                    for k, v in value.items()])
            return node
        node["v"] = [self.encode(item, blobs, depth + 1) for item in value]
        fields = getattr(type(value), "_fields", None)
        if isinstance(value, tuple) and isinstance(fields, tuple) and len(fields) == len(value):
            node.update(t="ntuple", name=_clip(type(value).__name__, MAX_NAME), fields=[str(f) for f in fields])
        else:
            node["t"] = ("tuple" if isinstance(value, tuple) else "list" if isinstance(value, list)
                         else "frozenset" if isinstance(value, frozenset) else "set")
        return node

    # -- decoding
    def decode(self, node, blobs: list[bytes], depth: int = 0):
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if depth > MAX_DEPTH + 2:
            raise WireError("a value nested too deeply")
        if not isinstance(node, dict):
            raise WireError("a value of an unknown form")
        kind = node.get("t")
        if kind == "ref":
            handle = node.get("h")
            if handle not in self.objects:
                raise WireError("a reference to an object that was never sent")
            return self.objects[handle]
        if kind in ("nd", "view", "sc", "bytes"):
            index = node.get("b")
            if not isinstance(index, int) or not 0 <= index < len(blobs):
                raise WireError("a missing data blob")
            if kind == "bytes":
                return blobs[index]
            if kind == "sc":
                return _array_from(node, blobs[index])[()]
            array = None
            if kind == "view" and isinstance(self.objects.get(node.get("h")), np.ndarray):
                array = _view_of(self.objects[node["h"]], node)
            if array is None:
                array = _array_from(node, blobs[index])
            return self._adopt(node, array)
        if kind == "complex":
            re_, im = node.get("v", [0, 0])
            return complex(float(re_), float(im))
        if kind == "rng":
            return self._adopt(node, self._generator(node.get("state")), key="h")
        if kind == "fn":
            fid = node.get("f")
            if not isinstance(fid, int):
                raise WireError("a function without an id")
            if fid not in self._remotes:
                self._remotes[fid] = self.remote(fid, _clip(str(node.get("name", "function")), MAX_NAME),
                                                 build_signature(node.get("sig")))
            return self._remotes[fid]
        if kind == "opaque":
            return Opaque(_clip(str(node.get("type")), MAX_NAME), _clip(str(node.get("repr"))))
        items = node.get("v")
        if not isinstance(items, list):
            raise WireError(f"a {kind!r} node without items")
        if kind == "dict":
            value = {}
            self._adopt(node, value)
            for pair in items:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise WireError("a dict item that is not a pair")
                key = self.decode(pair[0], blobs, depth + 1)
                try:
                    value[key] = self.decode(pair[1], blobs, depth + 1)
                except TypeError:
                    raise WireError("a dict key that cannot be a key") from None
            return value
        if kind == "list":
            value = []
            self._adopt(node, value)
            value.extend(self.decode(item, blobs, depth + 1) for item in items)
            return value
        decoded = [self.decode(item, blobs, depth + 1) for item in items]
        if kind == "tuple":
            return self._adopt(node, tuple(decoded))
        if kind == "ntuple":
            return self._adopt(node, self._named_tuple(node)(*decoded))
        if kind in ("set", "frozenset"):
            try:
                return set(decoded) if kind == "set" else frozenset(decoded)
            except TypeError:
                raise WireError("a set of unhashable items") from None
        raise WireError(f"a value of unknown kind {kind!r}")

    def _adopt(self, node: dict, value, key: str = "id"):
        handle = node.get(key)
        if isinstance(handle, int) and not isinstance(handle, bool):
            self._register(value, handle)
        return value

    def _named_tuple(self, node: dict):
        name, fields = node.get("name"), node.get("fields")
        if not (isinstance(name, str) and name.isidentifier() and isinstance(fields, list)
                and len(fields) == len(node["v"]) <= 64 and all(isinstance(f, str) for f in fields)):
            raise WireError("a named tuple with bad names")
        key = (name, tuple(fields))
        if key not in self._named_tuples:
            try:
                self._named_tuples[key] = collections.namedtuple(name, fields)
            except ValueError:
                raise WireError("a named tuple with bad field names") from None
        return self._named_tuples[key]

    def adopt_named_tuple(self, cls) -> None:
        """Rebuild named tuples of this type (name and fields) as ``cls`` itself (e.g. the course's cache type)."""
        self._named_tuples[(cls.__name__, tuple(cls._fields))] = cls

    @staticmethod
    def _generator(state) -> np.random.Generator:
        if not isinstance(state, dict) or state.get("bit_generator") not in _BIT_GENERATORS:
            raise WireError("a random generator of an unknown kind")
        bit_generator = getattr(np.random, state["bit_generator"])()
        try:
            bit_generator.state = state
        except (TypeError, ValueError, KeyError, OverflowError):
            raise WireError("a random generator in an invalid state") from None
        return np.random.Generator(bit_generator)

    # -- in-place changes
    def changes(self, blobs: list[bytes]) -> list:
        """[[handle, new contents], ...] for every shared object changed since it last crossed."""
        found = []
        for handle, value in list(self.objects.items()):
            before = self._snapshots.get(handle)
            if before is None:
                continue
            now = self._snapshot(value)
            if now == before:
                continue
            self._snapshots[handle] = now
            if isinstance(value, np.ndarray):
                header, data = _array_header(value)
                blobs.append(data)
                found.append([handle, {"t": "nd", "b": len(blobs) - 1, **header}])
            elif isinstance(value, np.random.Generator):
                found.append([handle, self._rng_state(value)])
            else:
                items = value.items() if isinstance(value, dict) else enumerate(value)
                found.append([handle, [[self.encode(k, blobs), self.encode(v, blobs)] for k, v in items]])
        return found

    def apply_changes(self, changes, blobs: list[bytes]) -> None:
        """Write the other side's in-place changes into our objects."""
        if not isinstance(changes, list):
            raise WireError("changes that are not a list")
        for entry in changes:
            if not (isinstance(entry, list) and len(entry) == 2) or entry[0] not in self.objects:
                raise WireError("a change of an object that was never sent")
            handle, new = entry
            target = self.objects[handle]
            if isinstance(target, np.ndarray):
                value = self.decode(new, blobs)
                if isinstance(value, np.ndarray) and value.shape == target.shape and target.flags.writeable:
                    np.copyto(target, value, casting="unsafe")
            elif isinstance(target, np.random.Generator):
                target.bit_generator.state = self._generator(new).bit_generator.state
            elif isinstance(new, list):
                pairs = [(self.decode(k, blobs), self.decode(v, blobs)) for k, v in new]
                if isinstance(target, list):
                    target[:] = [v for _, v in pairs]
                else:
                    target.clear()
                    target.update(pairs)
            self._snapshots[handle] = self._snapshot(target)


# ---------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------

def describe_exception(exc: BaseException, codec: Codec, blobs: list[bytes]) -> dict:
    """An exception as data: its type's name, the names of its classes, its arguments."""
    names = [cls.__name__ for cls in type(exc).__mro__][:32]
    try:
        args = codec.encode(list(exc.args), blobs)
    except Exception:  # noqa: BLE001
        args = [str(exc)]
    return {"type": _clip(type(exc).__name__, MAX_NAME), "classes": names, "args": args,
            "text": _clip(str(exc), 2000) if _safe_str(exc) else ""}


def _safe_str(exc) -> bool:
    try:
        str(exc)
        return True
    except Exception:  # noqa: BLE001
        return False


_NEVER_RAISED_AS_THEMSELVES = ("KeyboardInterrupt", "GeneratorExit")


def rebuild_exception(described: dict, codec: Codec, blobs: list[bytes]) -> BaseException:
    """An exception of the same name and built-in base class; never one whose code came from the other side."""
    if not isinstance(described, dict):
        raise WireError("an exception that is not described")
    name = str(described.get("type", "Exception"))
    name = name if name.isidentifier() and len(name) <= MAX_NAME else "Exception"
    classes = described.get("classes") if isinstance(described.get("classes"), list) else []
    base = Exception
    for candidate in classes:
        found = getattr(builtins, candidate, None) if isinstance(candidate, str) else None
        if isinstance(found, type) and issubclass(found, BaseException):
            base = found
            break
    if base.__name__ in _NEVER_RAISED_AS_THEMSELVES:
        base = Exception
    cls = base if base.__name__ == name else type(name, (base,), {"__module__": "learner"})
    text = str(described.get("text", ""))
    try:
        args = codec.decode(described.get("args"), blobs)
        return cls(*args) if isinstance(args, list) else cls(text)
    except Exception:  # noqa: BLE001 - e.g. UnicodeDecodeError needs five arguments
        pass
    try:
        return cls(text)
    except Exception:  # noqa: BLE001
        return type(name, (Exception,), {"__module__": "learner"})(text)


# ---------------------------------------------------------------------------------------
# A connection: requests, replies, and calls in both directions
# ---------------------------------------------------------------------------------------

class Connection:
    """One side of the pipe pair. While it waits for a reply it serves the other side's calls of our
    functions (a callback the learner's function makes, e.g. ``f`` in ``numerical_gradient(f, x)``).

    ``catch``: the exceptions of our functions that go to the caller on the other side (the grader
    passes ``Exception``, so its own interruptions and time limits stay its own; the child passes
    ``BaseException``). ``describe_raise(fn, exc)`` adds what this side knows about an exception its
    function raised; ``on_raise(exc, message)`` receives an exception the other side described.
    """

    def __init__(self, read_fd: int, write_fd: int, codec: Codec, *, catch=Exception, describe_raise=None,
                 on_raise=None) -> None:
        self.reader, self.write_fd, self.codec = Reader(read_fd), write_fd, codec
        self.catch, self.describe_raise, self.on_raise = catch, describe_raise, on_raise
        self.depth = 0   # requests in progress: 0 when idle

    def send(self, message: dict, blobs: list[bytes]) -> None:
        message["sync"] = self.codec.changes(blobs)
        write_all(self.write_fd, pack(message, blobs))

    def receive(self, deadline: float | None) -> tuple[dict, list[bytes]]:
        message, blobs = self.reader.read(deadline)
        self.codec.apply_changes(message.get("sync", []), blobs)
        return message, blobs

    def request(self, message: dict, blobs: list[bytes] | None = None, deadline: float | None = None, *,
                begin: bool = True):
        """Send ``message`` and wait for the other side's reply (serving its calls meanwhile).

        A request that is not nested in another starts a new exchange (``begin``: forget the shared
        objects of the last one), unless its message was already encoded for this exchange."""
        if self.depth == 0 and begin:
            self.codec.begin()
        self.depth += 1
        try:
            self.send(message, blobs if blobs is not None else [])
            while True:
                reply, reply_blobs = self.receive(deadline)
                if reply.get("op") == "call":
                    self.serve_call(reply, reply_blobs)
                    continue
                return reply, reply_blobs
        finally:
            self.depth -= 1

    def call(self, fid: int, args: tuple, kwargs: dict, deadline: float | None = None):
        """Call the other side's function ``fid``; its result, or its exception raised here."""
        blobs: list[bytes] = []
        if self.depth == 0:
            self.codec.begin()
        message = {"op": "call", "f": fid, "args": self.codec.encode(list(args), blobs),
                   "kwargs": self.codec.encode(dict(kwargs), blobs)}
        reply, reply_blobs = self.request(message, blobs, deadline, begin=False)
        if reply.get("op") == "return":
            return self.codec.decode(reply.get("value"), reply_blobs)
        if reply.get("op") == "raise":
            exc = rebuild_exception(reply.get("error"), self.codec, reply_blobs)
            if self.on_raise is not None:
                self.on_raise(exc, reply)
            raise exc
        raise WireError(f"an unexpected reply {str(reply.get('op'))[:40]!r} to a call")

    def serve_call(self, message: dict, blobs: list[bytes]) -> None:
        """Run one of our functions for the other side and send back its result or its exception."""
        if self.depth == 0:
            self.codec.begin()
        self.depth += 1
        try:
            fn = self.codec.functions.get(message.get("f"))
            out: list[bytes] = []
            try:
                if fn is None:
                    raise LookupError("no such function")
                args, kwargs = self.codec.decode(message.get("args"), blobs), self.codec.decode(message.get("kwargs"), blobs)
                if not isinstance(args, list) or not isinstance(kwargs, dict) or \
                        not all(isinstance(k, str) for k in kwargs):
                    raise WireError("a call without arguments")
                result = fn(*args, **kwargs)
            except WireError:
                raise
            except self.catch as exc:  # the exception goes to the caller, on the other side
                reply = {"op": "raise", "error": describe_exception(exc, self.codec, out)}
                if self.describe_raise is not None:
                    reply.update(self.describe_raise(fn, exc))
                self.send(reply, out)
                return
            self.send({"op": "return", "value": self.codec.encode(result, out)}, out)
        finally:
            self.depth -= 1
