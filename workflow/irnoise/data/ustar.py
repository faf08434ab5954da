"""The tar format of the shards: plain ustar archives, written and indexed directly.

irnoise writes each sample as three regular-file members (`<key>.cls`, `<key>.idx`,
`<key>.jpg`, the order webdataset's own TarWriter uses) with fixed owner, mode and time,
so that the same samples give byte-identical shards whoever writes them and whenever.
Python's tarfile spends tens of microseconds per member on generic header code, more than
copying a small JPEG; headers are therefore built (`tar_header`) and read (`ustar_index`)
here directly, and anything that is not plain ustar is left to tarfile (via webdataset).
"""

from __future__ import annotations

import mmap
import os
import struct
from pathlib import Path

TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK  # what tar(1) and Python's tarfile pad archives to
# Fixed owner, mode and time, so that shards do not depend on who wrote them or when.
_MODE_OWNER = b"0000444\x00" + b"0000000\x00" * 2
_MTIME = b"00000000000\x00"
_TAIL = (
    b"0"  # regular file
    + b"\x00" * 100  # link name
    + b"ustar\x0000"
    + b"irnoise".ljust(32, b"\x00")  # user name
    + b"irnoise".ljust(32, b"\x00")  # group name
    + b"\x00" * 16  # device numbers: none for a regular file, as tarfile writes them
    + b"\x00" * 167  # name prefix and padding
)
ZEROS = bytes(TAR_BLOCK)
# Buffers per writev (Linux accepts up to 1024) and bytes held before writing them out.
FLUSH_PARTS = 900
FLUSH_BYTES = 8 << 20
# name, mode/uid/gid, size, mtime, checksum, the rest; pack() pads the name with NULs.
_HEADER = struct.Struct("100s24s12s12s8s356s")
# The checksum counts its own field as eight spaces.
_FIXED_SUM = sum(_MODE_OWNER) + sum(_MTIME) + 8 * ord(" ") + sum(_TAIL)


def tar_header(name: bytes, size: int) -> bytes:
    """A ustar header for a regular file, built directly.

    Python's tarfile spends tens of microseconds per member on generic header code,
    which is more than copying a small JPEG; shards are written at copying speed.
    """
    if len(name) > 100:
        raise ValueError(f"tar member name longer than 100 bytes: {name!r}")
    size_field = b"%011o\x00" % size
    checksum = b"%06o\x00 " % (_FIXED_SUM + sum(name) + sum(size_field))
    return _HEADER.pack(name, _MODE_OWNER, size_field, _MTIME, checksum, _TAIL)


class ShardWriter:
    """Samples of one split written to `<split>-000000.tar`, ... with `shard_size` samples each.

    Members are gathered as a list of buffers and handed to the kernel by one writev per
    ~100 samples: no copy through a Python-side buffer, few system calls.
    """

    def __init__(self, directory: Path, split: str, shard_size: int) -> None:
        self.directory = directory
        self.split = split
        self._prefix = split.encode()
        self.shard_size = shard_size
        self.shards: list[str] = []
        self.samples = 0
        self._fd = -1
        self._parts: list[bytes] = []
        self._pending = 0  # bytes in _parts
        self._size = 0  # bytes of the current shard, pending ones included

    def write(self, row: int, label: int, jpeg: bytes) -> None:
        if self.samples % self.shard_size == 0:
            self._open_next()
        key = b"%s_%09d" % (self._prefix, row)
        cls, idx = b"%d" % label, b"%d" % row  # a few digits: one block each
        padding = ZEROS[: -len(jpeg) % TAR_BLOCK]
        # Members in sorted extension order, as webdataset's own TarWriter writes them.
        self._parts += (
            tar_header(key + b".cls", len(cls)),
            cls,
            ZEROS[len(cls) :],
            tar_header(key + b".idx", len(idx)),
            idx,
            ZEROS[len(idx) :],
            tar_header(key + b".jpg", len(jpeg)),
            jpeg,
            padding,
        )
        size = 5 * TAR_BLOCK + len(jpeg) + len(padding)
        self._pending += size
        self._size += size
        self.samples += 1
        if len(self._parts) >= FLUSH_PARTS or self._pending >= FLUSH_BYTES:
            self._flush()

    def close(self) -> None:
        if self._fd < 0:
            return
        end = 2 * TAR_BLOCK  # two zero blocks end an archive
        end += -(self._size + end) % TAR_RECORD
        self._parts.append(bytes(end))
        self._pending += end
        self._flush()
        os.close(self._fd)
        self._fd = -1

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _open_next(self) -> None:
        self.close()
        name = f"{self.split}-{len(self.shards):06d}.tar"
        self._fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        self._size = 0
        self.shards.append(name)

    def _flush(self) -> None:
        written = os.writev(self._fd, self._parts)
        if written < self._pending:  # short writes are legal: finish with plain writes
            rest = memoryview(b"".join(self._parts))[written:]
            while rest:
                rest = rest[os.write(self._fd, rest) :]
        self._parts.clear()
        self._pending = 0


def ustar_index(data: bytes | mmap.mmap) -> list[tuple[str, int, int]] | None:
    """(name, offset, size) of each regular file of a plain ustar archive; None otherwise."""
    index, offset = [], 0
    while offset + TAR_BLOCK <= len(data):
        header = data[offset : offset + TAR_BLOCK]
        if header[0] == 0:  # the zero blocks that end an archive
            break
        size_field, kind = header[124:136], header[156:157]
        if kind not in (b"0", b"\0", b"5") or size_field[0] & 0x80:
            return None  # pax or GNU long-name headers, base-256 sizes: tarfile's job
        size = int(size_field.rstrip(b"\0 ").strip() or b"0", 8)
        name = header[:100].split(b"\0", 1)[0]
        if prefix := header[345:500].split(b"\0", 1)[0]:
            name = prefix + b"/" + name
        if kind != b"5":  # directories hold no samples
            index.append((name.decode(), offset + TAR_BLOCK, size))
        offset += TAR_BLOCK + (size + TAR_BLOCK - 1) // TAR_BLOCK * TAR_BLOCK
    return index
