"""Read a pickle or joblib file opcode by opcode, executing nothing, and check every global.

The walk simulates the unpickler's stack and memo with literal values, so STACK_GLOBAL's
operands are known wherever the unpickler would know them (memoized strings included); a
STACK_GLOBAL whose operands are not literal strings is refused. In a joblib file the raw array
data after each NumpyArrayWrapper's BUILD is skipped exactly (read from the wrapper's own
state), and an object array's nested pickle is walked in turn.
"""

from __future__ import annotations

import pickletools
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any, cast

from models_app.safe_pickle import container
from models_app.safe_pickle.policy import UnsafePickle, canonical_global
from models_app.safe_pickle.values import (
    ARRAY_WRAPPER,
    RECONSTRUCTOR,
    GlobalRef,
    Made,
    Opaque,
    array_state,
)

Check = Callable[[str, str], None]
CHUNK = 1024 * 1024
MAX_LITERAL = 1024 * 1024  # longer strings are skipped, never held: no global is that long
MAX_LINE = 64 * 1024
_LENGTH = {-2: "<B", -3: "<i", -4: "<I", -5: "<Q"}
_MARK = object()


def _descriptor(op: pickletools.OpcodeInfo) -> pickletools.ArgumentDescriptor:
    assert op.arg is not None  # only opcodes that take an argument come here
    return op.arg


class _Source:
    """The stream, counting bytes, with bounded lines (what pickletools' readers call)."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.pos = 0

    def read(self, n: int) -> bytes:
        data = self.stream.read(n)
        self.pos += len(data)
        return data

    def readline(self) -> bytes:
        line = self.stream.readline(MAX_LINE)
        self.pos += len(line)
        if not line.endswith(b"\n"):
            raise ValueError("a text opcode's line has no end")
        return line

    def skip(self, n: int, what: str) -> None:
        while n > 0:
            got = len(self.read(min(n, CHUNK)))
            if got == 0:
                raise UnsafePickle(f"the file is not a readable pickle/joblib file: it ends "
                                   f"inside {what} (truncated).")
            n -= got


@dataclass
class WalkReport:
    globals: set[tuple[str, str]] = field(default_factory=set)
    arrays: int = 0
    array_bytes: int = 0


def _unreadable(detail: str) -> UnsafePickle:
    return UnsafePickle(f"the file is not a readable pickle/joblib file ({detail}).")


class _Walk:
    def __init__(self, source: _Source, check: Check, report: WalkReport, *, joblib: bool):
        self.src = source
        self.check = check
        self.report = report
        self.joblib = joblib
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.frame_end = 0
        self.opcodes = 0

    # stack helpers
    def pop(self) -> Any:
        if not self.stack:
            raise _unreadable("an opcode needs a value the stack does not have")
        return self.stack.pop()

    def pop_mark(self) -> list[Any]:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i] is _MARK:
                items = self.stack[i + 1:]
                del self.stack[i:]
                return items
        raise _unreadable("an opcode needs a MARK that is not there")

    def top(self) -> Any:
        if not self.stack:
            raise _unreadable("an opcode needs a value the stack does not have")
        return self.stack[-1]

    def global_(self, module: Any, name: Any) -> GlobalRef:
        if not isinstance(module, str) or not isinstance(name, str):
            raise UnsafePickle("the file imports a global whose name is computed, not written "
                               "as text (STACK_GLOBAL on non-literal operands); refused.")
        self.check(module, name)
        self.report.globals.add((module, name))
        return GlobalRef(module, name)

    def length_prefixed(self, op: pickletools.OpcodeInfo) -> bytes | None:
        fmt = _LENGTH[_descriptor(op).n]
        raw = self.src.read(struct.calcsize(fmt))
        if len(raw) < struct.calcsize(fmt):
            raise _unreadable(f"truncated inside {op.name}")
        (n,) = struct.unpack(fmt, raw)
        if n < 0:
            raise _unreadable(f"{op.name} has a negative length")
        if n > MAX_LITERAL:
            self.src.skip(n, op.name)
            return None
        data = self.src.read(n)
        if len(data) < n:
            raise _unreadable(f"truncated inside {op.name}")
        return data

    def run(self) -> Any:
        while True:
            code = self.src.read(1)
            if not code:
                raise _unreadable("it ends before the STOP opcode: truncated or not a pickle")
            op = pickletools.code2op.get(code.decode("latin-1"))  # type: ignore[attr-defined]
            if op is None:
                raise _unreadable(f"unknown opcode {code!r} at byte {self.src.pos - 1}")
            self.opcodes += 1
            if op.name == "STOP":
                return self.pop()
            handler = getattr(self, "op_" + op.name, None)
            if handler is None:
                raise UnsafePickle(f"the file uses the {op.name} opcode, which a model file "
                                   "never needs; refused.")
            handler(op)

    # literals
    def _arg(self, op: pickletools.OpcodeInfo) -> Any:
        return _descriptor(op).reader(cast(IO[bytes], self.src))  # a file-like reader

    def _push_arg(self, op: pickletools.OpcodeInfo) -> None:
        self.stack.append(self._arg(op))

    op_INT = op_BININT = op_BININT1 = op_BININT2 = op_LONG = op_LONG1 = op_LONG4 = _push_arg
    op_FLOAT = op_BINFLOAT = op_STRING = op_UNICODE = _push_arg

    def _push_text(self, op: pickletools.OpcodeInfo) -> None:
        data = self.length_prefixed(op)
        if data is None:
            self.stack.append(Opaque())
            return
        try:
            text = data.decode("utf-8", "surrogatepass") if "unicode" in _descriptor(op).name \
                else data.decode("ascii")
        except UnicodeDecodeError as exc:
            raise _unreadable(f"{op.name} is not valid text") from exc
        self.stack.append(text)

    op_BINSTRING = op_SHORT_BINSTRING = _push_text
    op_SHORT_BINUNICODE = op_BINUNICODE = op_BINUNICODE8 = _push_text

    def _push_bytes(self, op: pickletools.OpcodeInfo) -> None:
        data = self.length_prefixed(op)
        small = data is not None and len(data) <= MAX_LINE and op.name != "BYTEARRAY8"
        self.stack.append(data if small else Opaque())

    op_BINBYTES = op_SHORT_BINBYTES = op_BINBYTES8 = op_BYTEARRAY8 = _push_bytes

    def op_NONE(self, op: Any) -> None:
        self.stack.append(None)

    def op_NEWTRUE(self, op: Any) -> None:
        self.stack.append(True)

    def op_NEWFALSE(self, op: Any) -> None:
        self.stack.append(False)

    # containers
    def op_EMPTY_LIST(self, op: Any) -> None:
        self.stack.append([])

    def op_APPEND(self, op: Any) -> None:
        value = self.pop()
        target = self.top()
        if isinstance(target, list):
            target.append(value)

    def op_APPENDS(self, op: Any) -> None:
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, list):
            target.extend(items)

    def op_LIST(self, op: Any) -> None:
        self.stack.append(self.pop_mark())

    def op_EMPTY_TUPLE(self, op: Any) -> None:
        self.stack.append(())

    def op_TUPLE(self, op: Any) -> None:
        self.stack.append(tuple(self.pop_mark()))

    def op_TUPLE1(self, op: Any) -> None:
        self.stack.append((self.pop(),))

    def op_TUPLE2(self, op: Any) -> None:
        b, a = self.pop(), self.pop()
        self.stack.append((a, b))

    def op_TUPLE3(self, op: Any) -> None:
        c, b, a = self.pop(), self.pop(), self.pop()
        self.stack.append((a, b, c))

    def op_EMPTY_DICT(self, op: Any) -> None:
        self.stack.append({})

    def _set_items(self, target: Any, items: list[Any]) -> None:
        if len(items) % 2:
            raise _unreadable("a dictionary has a key without a value")
        if isinstance(target, dict):
            for i in range(0, len(items), 2):
                try:
                    target[items[i]] = items[i + 1]
                except TypeError:
                    pass  # an unhashable key: the walk only needs literal states

    def op_DICT(self, op: Any) -> None:
        target: dict = {}
        self._set_items(target, self.pop_mark())
        self.stack.append(target)

    def op_SETITEM(self, op: Any) -> None:
        value, key = self.pop(), self.pop()
        self._set_items(self.top(), [key, value])

    def op_SETITEMS(self, op: Any) -> None:
        items = self.pop_mark()
        self._set_items(self.top(), items)

    def op_EMPTY_SET(self, op: Any) -> None:
        self.stack.append(Opaque())

    def op_ADDITEMS(self, op: Any) -> None:
        self.pop_mark()
        self.top()

    def op_FROZENSET(self, op: Any) -> None:
        self.pop_mark()
        self.stack.append(Opaque())

    # stack and memo
    def op_POP(self, op: Any) -> None:
        self.pop()

    def op_DUP(self, op: Any) -> None:
        self.stack.append(self.top())

    def op_MARK(self, op: Any) -> None:
        self.stack.append(_MARK)

    def op_POP_MARK(self, op: Any) -> None:
        self.pop_mark()

    def _get(self, op: pickletools.OpcodeInfo) -> None:
        index = self._arg(op)
        if index not in self.memo:
            raise _unreadable(f"{op.name} reads memo slot {index}, which was never stored")
        self.stack.append(self.memo[index])

    op_GET = op_BINGET = op_LONG_BINGET = _get

    def _put(self, op: pickletools.OpcodeInfo) -> None:
        index = self._arg(op)
        if index < 0:
            raise _unreadable(f"{op.name} stores to a negative memo slot")
        if index > self.opcodes:
            # A pickler numbers slots 0, 1, 2...; the C unpickler sizes its memo to the
            # largest index, so one LONG_BINPUT could ask for gigabytes.
            raise UnsafePickle(f"the file stores to memo slot {index} after only "
                               f"{self.opcodes} opcodes, which no pickler writes; refused.")
        value = self.top()
        if value is _MARK:
            raise _unreadable(f"{op.name} stores a MARK")
        self.memo[index] = value

    op_PUT = op_BINPUT = op_LONG_BINPUT = _put

    def op_MEMOIZE(self, op: Any) -> None:
        value = self.top()
        if value is _MARK:
            raise _unreadable("MEMOIZE stores a MARK")
        self.memo[len(self.memo)] = value

    # globals and objects
    def _named(self, op: pickletools.OpcodeInfo) -> GlobalRef:
        try:
            module = self.src.readline()[:-1].decode("utf-8")
            name = self.src.readline()[:-1].decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _unreadable(f"{op.name}'s name is not text") from exc
        return self.global_(module, name)

    def op_GLOBAL(self, op: Any) -> None:
        self.stack.append(self._named(op))

    def op_STACK_GLOBAL(self, op: Any) -> None:
        name, module = self.pop(), self.pop()
        self.stack.append(self.global_(module, name))

    def _is_wrapper_class(self, value: Any) -> bool:
        return (isinstance(value, GlobalRef)
                and canonical_global(value.module, value.name) == ARRAY_WRAPPER)

    def _made(self, callable_: Any, args: Any) -> Made:
        wrapper = self._is_wrapper_class(callable_)
        if (isinstance(callable_, GlobalRef)
                and canonical_global(callable_.module, callable_.name) == RECONSTRUCTOR
                and isinstance(args, tuple) and args and self._is_wrapper_class(args[0])):
            wrapper = True
        return Made(callable_, args, wrapper=wrapper)

    def op_REDUCE(self, op: Any) -> None:
        args, callable_ = self.pop(), self.pop()
        self.stack.append(self._made(callable_, args))

    def op_NEWOBJ(self, op: Any) -> None:
        args, cls = self.pop(), self.pop()
        self.stack.append(self._made(cls, args))

    def op_NEWOBJ_EX(self, op: Any) -> None:
        kwargs, args, cls = self.pop(), self.pop(), self.pop()
        self.stack.append(self._made(cls, (args, kwargs)))

    def op_INST(self, op: Any) -> None:
        cls = self._named(op)
        self.stack.append(self._made(cls, tuple(self.pop_mark())))

    def op_OBJ(self, op: Any) -> None:
        items = self.pop_mark()
        if not items:
            raise _unreadable("OBJ has no class")
        self.stack.append(self._made(items[0], tuple(items[1:])))

    def op_BUILD(self, op: Any) -> None:
        state = self.pop()
        target = self.top()
        if isinstance(target, GlobalRef):
            raise UnsafePickle(f"the file sets attributes on {target.module}.{target.name} "
                               "itself (BUILD on an imported class or function), which would "
                               "change it for every later load; refused.")
        if not isinstance(target, Made):
            return
        target.state = state
        if not target.wrapper:
            return
        if isinstance(state, tuple) and len(state) == 2:
            parts = [s for s in state if isinstance(s, dict)]
        else:
            parts = [state] if isinstance(state, dict) else []
        for part in parts:
            target.built.update(part)
        if self.joblib:
            self.stack[-1] = self.read_array(target)

    # protocol and joblib arrays
    def op_PROTO(self, op: Any) -> None:
        if self._arg(op) > 5:
            raise _unreadable("it declares a pickle protocol above 5")

    def op_FRAME(self, op: Any) -> None:
        size = self._arg(op)
        self.frame_end = self.src.pos + size

    def read_array(self, wrapper: Made) -> Opaque:
        if wrapper.args not in ((), None) and not (
                isinstance(wrapper.args, tuple) and self._is_wrapper_class(wrapper.args[0])):
            raise UnsafePickle("a joblib array wrapper is built with arguments, which joblib "
                               "never writes; refused.")
        if self.src.pos < self.frame_end:
            raise UnsafePickle("the file's array data starts inside a pickle frame, which "
                               "joblib never writes; refused.")
        state = array_state(wrapper.built)
        container.check_array_wrapper(state)
        self.report.arrays += 1
        if state["dtype"].hasobject:
            _Walk(self.src, self.check, self.report, joblib=False).run()
            return Opaque()
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self.src.read(1)
            if not padding:
                raise _unreadable("truncated before an array's padding")
            self.src.skip(padding[0], "an array's padding")
        nbytes = container.array_nbytes(state)
        self.src.skip(nbytes, "an array's data")
        self.report.array_bytes += nbytes
        return Opaque()


def _walk(stream: IO[bytes], check: Check, *, joblib: bool) -> WalkReport:
    report = WalkReport()
    source = _Source(stream)
    try:
        _Walk(source, check, report, joblib=joblib).run()
    except (ValueError, struct.error, EOFError, OverflowError) as exc:
        raise _unreadable(str(exc)) from exc
    if source.read(1):
        raise UnsafePickle("the file has bytes after the end of its pickle, which no model "
                           "file has; refused.")
    return report


def walk_pickle(stream: IO[bytes], check: Check) -> WalkReport:
    """Every global of a pickle file, each passed to `check` (which raises to refuse)."""
    return _walk(stream, check, joblib=False)


def walk_joblib(stream: IO[bytes], check: Check) -> WalkReport:
    """The same for a joblib file, raw or compressed, streaming: arrays are skipped, not held."""
    with container.open_joblib(stream) as raw:
        try:
            return _walk(raw, check, joblib=True)
        except (OSError, EOFError) as exc:  # a corrupt compressed stream
            raise _unreadable(f"its compressed data is corrupt: {exc}") from exc
