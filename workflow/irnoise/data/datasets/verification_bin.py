"""insightface's verification sets: `lfw.bin`, `cfp_fp.bin`, `agedb_30.bin`, ...

Shipped beside MS1MV2's `train.rec`, each file is a pickle of `(images, issame)`: a list
of 2 x P encoded images (bytes; Python 2's str in the original files, aligned 112x112
crops) and a list of P flags, pair i being images 2i and 2i+1, same person or not. The
test split is the images in file order; the pairs are the verification task's pairs, in
10 consecutive folds as insightface's evaluation splits them (KFold, no shuffle).

A pickle can run code when loaded, and these files come from the internet: this module
never unpickles. It walks the pickle's opcodes (`pickletools.genops`, which executes
nothing), accepts only those that build lists, tuples, byte strings, booleans and small
integers, and records where each image's bytes lie in the file; the shard job reads them
from there. Anything else (a class, a function, a numpy array) is refused.

The files carry no identities. A matched pair's two images get one class (`pair<i>`),
every other image a class of its own, so that retrieval R@1 on such a set asks whether an
image's nearest neighbor is its pair partner; the verification metrics are the point.
"""

from __future__ import annotations

import pickletools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from irnoise.data.datasets.base import DatasetIndex, Pair, Record
from irnoise.errors import UserError

FOLDS = 10  # insightface's evaluation: 10-fold cross-validation over the pairs

LAYOUT = """\
<root>/<name>.bin   insightface's verification file (lfw.bin, cfp_fp.bin, agedb_30.bin),
                    named by the dataset's options: {file: <name>.bin}"""

# Opcodes of byte strings, with the size of their length field (the data follows it).
BYTE_STRINGS = {
    "SHORT_BINBYTES": 1,
    "SHORT_BINSTRING": 1,
    "BINBYTES": 4,
    "BINSTRING": 4,
    "BINBYTES8": 8,
}
IGNORED = {"PROTO", "FRAME", "STOP"}
MEMO_PUT = {"PUT", "BINPUT", "LONG_BINPUT"}
MEMO_GET = {"GET", "BINGET", "LONG_BINGET"}
INTEGERS = {"INT", "BININT", "BININT1", "BININT2"}
TUPLES = {"TUPLE1": 1, "TUPLE2": 2, "TUPLE3": 3}


@dataclass(frozen=True)
class Span:
    """Where one encoded image lies in the file."""

    offset: int
    length: int


class _Mark:
    pass


MARK = _Mark()


def bin_path(root: Path, options: dict[str, Any]) -> Path:
    name = options.get("file")
    if not isinstance(name, str) or not name:
        raise UserError(
            "a verification_bin dataset names its file: set the dataset's options: "
            "{file: lfw.bin} (or cfp_fp.bin, agedb_30.bin; relative to its root)"
        )
    return root / name


def required_files(root: Path, options: dict[str, Any]) -> list[Path]:
    return [bin_path(root, options)]


def refuse(path: Path, what: str) -> UserError:
    return UserError(
        f"{path} is not an insightface verification .bin (a pickle of a list of encoded "
        f"images and a list of same/different flags): it {what}; nothing in it was run. "
        "Use the .bin files that ship with insightface's training sets (lfw.bin, "
        "cfp_fp.bin, agedb_30.bin)"
    )


def pop_to_mark(stack: list[Any]) -> list[Any]:
    items = []
    while stack and stack[-1] is not MARK:
        items.append(stack.pop())
    if not stack:
        raise IndexError("no mark")
    stack.pop()
    return items[::-1]


def step(stack: list[Any], memo: dict[int, Any], name: str, arg: Any, position: int) -> None:
    """Apply one accepted opcode to the stack; KeyError for one that is not accepted."""
    if name in BYTE_STRINGS:
        stack.append(Span(position + 1 + BYTE_STRINGS[name], len(arg)))
    elif name in ("NEWTRUE", "NEWFALSE"):
        stack.append(name == "NEWTRUE")
    elif name in INTEGERS:
        stack.append(arg)
    elif name == "MARK":
        stack.append(MARK)
    elif name in ("EMPTY_LIST", "EMPTY_TUPLE"):
        stack.append([] if name == "EMPTY_LIST" else ())
    elif name in ("LIST", "TUPLE"):
        items = pop_to_mark(stack)
        stack.append(items if name == "LIST" else tuple(items))
    elif name in TUPLES:
        items = [stack.pop() for _ in range(TUPLES[name])][::-1]
        stack.append(tuple(items))
    elif name == "APPEND":
        item = stack.pop()
        stack[-1].append(item)
    elif name == "APPENDS":
        items = pop_to_mark(stack)
        stack[-1].extend(items)
    elif name in MEMO_PUT or name == "MEMOIZE":
        memo[len(memo) if name == "MEMOIZE" else int(arg)] = stack[-1]
    elif name in MEMO_GET:
        stack.append(memo[int(arg)])
    elif name not in IGNORED:
        raise KeyError(name)


def read_verification_bin(path: Path) -> tuple[list[Span], list[bool]]:
    """(where each image lies, each pair's flag) of a .bin, without unpickling it."""
    stack: list[Any] = []
    memo: dict[int, Any] = {}
    with open(path, "rb") as handle:
        try:
            for opcode, arg, position in pickletools.genops(handle):
                step(stack, memo, opcode.name, arg, position)
        except KeyError as error:
            raise refuse(path, f"holds the pickle opcode {error.args[0]}") from None
        except (ValueError, IndexError, AttributeError, TypeError) as error:
            raise refuse(path, f"is not a well-formed pickle ({error})") from None
    if len(stack) != 1 or not isinstance(stack[0], list | tuple) or len(stack[0]) != 2:
        raise refuse(path, "does not hold a pair (images, flags)")
    images, flags = stack[0]
    if not all(isinstance(image, Span) for image in images):
        raise refuse(path, "holds images that are not byte strings")
    if not all(isinstance(flag, bool) or flag in (0, 1) for flag in flags):
        raise refuse(path, "holds flags that are not booleans")
    if len(images) != 2 * len(flags) or not flags:
        raise refuse(path, f"holds {len(images)} images for {len(flags)} pairs (two per pair)")
    return list(images), [bool(flag) for flag in flags]


def load(root: Path, options: dict[str, Any]) -> DatasetIndex:
    path = bin_path(root, options)
    images, flags = read_verification_bin(path)
    records, pairs = [], []
    folds = min(FOLDS, len(flags))
    for i, same in enumerate(flags):
        for side in (0, 1):
            row = 2 * i + side
            label = f"pair{i:06d}" if same else f"image{row:07d}"
            span = images[row]
            records.append(Record(f"{row:07d}", path, label, span.offset, span.length))
        pairs.append(Pair(2 * i, 2 * i + 1, same, i * folds // len(flags)))
    return DatasetIndex(source="verification_bin", root=root, splits={"test": records}, pairs=pairs)
