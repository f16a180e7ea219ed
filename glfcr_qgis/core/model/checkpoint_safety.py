"""What a checkpoint would do when unpickled, found without torch and without unpickling it.

A ``.pth`` file is a pickle (inside a zip archive since torch 1.6). Besides tensors, a pickle can name
any Python function to call while loading (``posix.system``, ``builtins.eval``): that is how a
malicious checkpoint runs code. Loading is always done with ``torch.load(weights_only=True)``, which
refuses such names; this module reads the names a pickle imports (its GLOBAL opcodes) so that the
refusal can be explained in words, and so that Processing can refuse the file before a run starts
(on the interface thread, where torch is not imported).
"""

from __future__ import annotations

import io
import os
import pickletools
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

# names a plain weights file imports while loading (tensor rebuilding, ordered dicts, dtypes)
_DATA_MODULES = ("torch", "collections", "numpy", "_codecs")
_SAFE_BUILTINS = frozenset(
    {"set", "frozenset", "list", "tuple", "dict", "int", "float", "complex", "bool", "str", "bytes",
     "bytearray", "slice", "range", "object"}
)  # fmt: skip
# modules whose functions run commands, load code or touch files when called
_CODE_MODULES = frozenset(
    {"os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty", "ctypes",
     "multiprocessing", "code", "codeop", "pickle", "_pickle", "marshal", "webbrowser", "commands", "pdb",
     "timeit", "platform", "tempfile", "pathlib", "io", "urllib", "http", "requests", "asyncio", "signal"}
)  # fmt: skip
_STRING_OPCODES = frozenset(
    {"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING", "BINSTRING", "SHORT_BINSTRING"}
)
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
# a legacy (non-zip) torch.save file: magic number, protocol, system info, the object, storage keys
_LEGACY_PICKLES = 5
AUTHORS_WEIGHTS = "use the authors' CR_net.pth"


def pickle_globals(path: str | os.PathLike[str]) -> list[str]:
    """The ``module.name`` of every global a checkpoint's pickle imports when loaded, in file order.

    Args:
        path: a ``torch.save`` file (zip archive, or the legacy bare pickle).

    Returns:
        Dotted names such as ``"torch._utils._rebuild_tensor_v2"``; empty for a file that holds none
        or that is no pickle at all.

    """
    names: list[str] = []
    for stream in _pickle_streams(Path(path)):
        names += _globals_of(stream)
    return names


def runs_code(name: str) -> bool:
    """Whether importing and calling the global ``module.name`` can run commands or load code."""
    module, _, attribute = name.rpartition(".")
    root = module.split(".")[0]
    if root == "builtins":
        return attribute not in _SAFE_BUILTINS
    return root in _CODE_MODULES


def unsafe_checkpoint_message(path: str | os.PathLike[str], name: str) -> str:
    """The sentence for a checkpoint whose pickle asks for the global ``name``, which is refused."""
    if runs_code(name):
        return (
            f"{os.fspath(path)} is not a plain weights file: it asks to run code ({name}) when loaded, and "
            f"is refused; {AUTHORS_WEIGHTS}."
        )
    return (
        f"{os.fspath(path)} is not a plain weights file: it holds Python objects ({name}) besides the "
        f"weights, which are not loaded for safety; save the weights as a state_dict of tensors, or "
        f"{AUTHORS_WEIGHTS}."
    )


def unsafe_global_problem(path: str | os.PathLike[str]) -> str | None:
    """The refusal sentence for a checkpoint that imports more than a plain weights file would, else None."""
    try:
        names = pickle_globals(path)
    except (OSError, zipfile.BadZipFile):
        return None  # unreadable: the load reports it
    suspicious = [name for name in names if runs_code(name)]
    suspicious += [name for name in names if not _is_data_global(name)]
    return unsafe_checkpoint_message(path, suspicious[0]) if suspicious else None


def _is_data_global(name: str) -> bool:
    root = name.split(".")[0]
    return root in _DATA_MODULES or (root == "builtins" and not runs_code(name))


def refused_global(message: str) -> str | None:
    """The ``module.name`` torch's weights-only unpickler refused, read from its error message."""
    match = re.search(r"GLOBAL\s+([\w.]+)", message)
    if not match:
        return None
    # torch names builtins without their module
    return match.group(1) if "." in match.group(1) else f"builtins.{match.group(1)}"


def _pickle_streams(path: Path) -> Iterator[BinaryIO]:
    """Each pickle of the file, as a stream positioned at its start (read only as far as needed)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.endswith(".pkl"):
                    yield io.BytesIO(archive.read(member))
        return
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for _ in range(_LEGACY_PICKLES):
            start = handle.tell()
            if start >= size:
                return
            yield handle
            if handle.tell() == start:
                return


def _globals_of(stream: BinaryIO) -> list[str]:
    """Read one pickle from ``stream`` (leaving it after its STOP) and list the globals it imports."""
    names: list[str] = []
    strings: list[str] = []  # the string constants pushed so far, for STACK_GLOBAL
    memo: dict[int, str] = {}
    memo_size = 0  # MEMOIZE stores at the next free index
    last_string: str | None = None
    try:
        for opcode, argument, _ in pickletools.genops(stream):
            name = opcode.name
            if name in _STRING_OPCODES:
                last_string = argument.decode("latin-1") if isinstance(argument, bytes) else str(argument)
                strings.append(last_string)
                continue
            if name in _MEMO_PUTS:
                index = memo_size if name == "MEMOIZE" else int(argument)
                memo_size = max(memo_size, index + 1)
                if last_string is not None:
                    memo[index] = last_string
                continue
            if name in _MEMO_GETS and int(argument) in memo:
                last_string = memo[int(argument)]
                strings.append(last_string)
                continue
            last_string = None
            if name in ("GLOBAL", "INST"):
                module, _, attribute = str(argument).partition(" ")
                names.append(_dotted(module, attribute))
            elif name == "STACK_GLOBAL" and len(strings) >= 2:
                names.append(_dotted(strings[-2], strings[-1]))
    except ValueError:
        pass  # not a pickle, or truncated: nothing more to read
    return names


def _dotted(module: str, attribute: str) -> str:
    # pickles of protocol 2 and older spell the builtins module the Python 2 way
    return f"{'builtins' if module == '__builtin__' else module}.{attribute}"
