"""WebDataset-style tar shards: naming them (brace patterns, local paths, fsspec URLs), reading their
samples, writing label shards atomically, and the index of finished label shards.

A shard is a tar file whose members are grouped into samples by key: ``photos/0001.jpg`` and
``photos/0001.json`` belong to sample ``photos/0001`` (the key is the member path up to the first dot
of its file name), and members of one sample follow each other, as WebDataset writes them.

A label shard (`depth-anything label` with shards in) holds per key the image's bytes as read, the
label (``KEY.depth.npy``, float16, or ``KEY.depth.png``, 16-bit) and ``KEY.json`` (its metadata and
quality score). Its members carry no time stamps or owners, so the same labels give the same bytes
whichever engine, rank or run wrote them.

The index (``OUT/index.jsonl``) has one line per finished label shard: its name, source shard, sample
count, SHA-256, the teacher's digest and the per-sample quality (float16, base64). A line is appended
only after the shard has been renamed into place, in one write, so after a crash the index names only
complete shards; a final line without its newline (a crash during that write) is ignored.
"""

from __future__ import annotations

import base64
import hashlib
import io as _io
import json
import os
import re
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import DatasetError
from ..io import atomic_target, file_sha256

IMAGE_EXTENSIONS = ("jpg", "jpeg", "png", "webp", "bmp", "tif", "tiff", "ppm")
INDEX = "index.jsonl"
TEACHER_FILE = "teacher.json"
SHARD_FORMAT = "depth-anything-label-shards/1"
_BRACE = re.compile(r"\{([^{}]*)\}")


class ShardReadError(DatasetError):
    """A shard could not be read to its end (missing, unreachable, truncated); names the shard and the
    last key read, so nothing is committed for it and a rerun tries it again."""


def expand_braces(pattern: str) -> list[str]:
    """Every name a brace pattern stands for, in order: ``a-{000..002}.tar`` (zero-padded ranges) and
    ``{train,val}/x.tar`` (lists); several groups multiply out left to right."""
    match = _BRACE.search(pattern)
    if match is None:
        return [pattern]
    body = match.group(1)
    numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
    if numeric:
        first, last = numeric.groups()
        width = len(first) if first.startswith("0") or len(first) == len(last) else 0
        step = 1 if int(last) >= int(first) else -1
        choices = [str(n).zfill(width) for n in range(int(first), int(last) + step, step)]
    else:
        choices = body.split(",")
    head, tail = pattern[: match.start()], pattern[match.end() :]
    return [name for choice in choices for name in expand_braces(head + choice + tail)]


def is_url(name: str) -> bool:
    """Whether `name` is an fsspec URL (``s3://``, ``gs://``, ``file://``, ``http://`` ...)."""
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", name) is not None


def shard_urls(pattern: str | Path) -> list[str]:
    """The shards a pattern, a folder of ``.tar`` files or a single shard names (sorted for folders)."""
    text = str(pattern)
    if not is_url(text) and "{" not in text and Path(text).is_dir():
        return sorted(str(p) for p in Path(text).glob("*.tar"))
    return expand_braces(text)


def is_shard_input(data: str | Path) -> bool:
    """Whether `label` input `data` names shards (a pattern, a URL, a ``.tar`` file) rather than a folder
    of images."""
    text = str(data)
    return is_url(text) or "{" in text or text.endswith(".tar")


def open_shard(url: str) -> BinaryIO:
    """Open a shard for reading: a local path directly, a URL through fsspec."""
    if not is_url(url):
        return open(url, "rb")  # noqa: SIM115  (closed by the caller)
    try:
        import fsspec
    except ImportError:
        raise ShardReadError(f"{url}: reading URLs needs fsspec (pip install fsspec)") from None
    return fsspec.open(url, "rb").open()


def shard_name(url: str) -> str:
    """The file name of a shard (for messages and the index)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def split_member(name: str) -> tuple[str, str]:
    """(key, extension) of a tar member: the extension starts at the first dot of the file name."""
    folder, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension.lower() if dot else ""


@dataclass
class ShardSample:
    """One sample of a shard: its key and its members' bytes by extension."""

    key: str
    fields: dict[str, bytes] = field(default_factory=dict)

    def image_bytes(self) -> tuple[str, bytes] | None:
        """(extension, bytes) of the sample's image, if it has one."""
        for extension in IMAGE_EXTENSIONS:
            if extension in self.fields:
                return extension, self.fields[extension]
        return None


class _TailReader:
    """A stream that counts the bytes it hands on and keeps the last `keep` of them, so that after a tar
    has been read as a stream its end-of-archive marker can still be checked."""

    def __init__(self, raw: BinaryIO, keep: int = 1 << 16) -> None:
        self.raw, self.keep = raw, keep
        self.total = 0
        self.tail = b""

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.total += len(data)
        self.tail = (self.tail + data)[-self.keep :]
        return data

    def ends_with_marker(self, end_of_members: int) -> bool:
        """Whether a zero block follows the last member (which ends at byte `end_of_members`): the start of
        tar's end-of-archive marker, and all of it that tarfile reads before it stops."""
        start = end_of_members - (self.total - len(self.tail))
        marker = self.tail[start : start + tarfile.BLOCKSIZE] if start >= 0 else b""
        return len(marker) == tarfile.BLOCKSIZE and not marker.strip(b"\0")


def iter_shard(url: str) -> Iterator[ShardSample]:
    """The samples of shard `url` in file order, read as a stream (no seeking, so any fsspec URL works).

    Raises `ShardReadError` naming the shard, the key being read and the last complete key when the
    shard is missing, unreachable, ends in the middle of a member, or ends without tar's end-of-archive
    marker (cut at a member boundary, which tar itself would take for the end; raised after the last
    sample, so callers must finish reading a shard before they trust it).
    """
    complete, reading = "(none)", "(none)"
    try:
        stream = open_shard(url)
    except ShardReadError:
        raise
    except Exception as exc:  # fsspec backends raise their own types for unreachable hosts and buckets
        raise ShardReadError(f"shard {url}: cannot open ({type(exc).__name__}: {exc})") from None
    counted = _TailReader(stream)
    end_of_members = 0
    try:
        with stream, tarfile.open(fileobj=counted, mode="r|") as archive:  # type: ignore[call-overload]
            current: ShardSample | None = None
            for member in archive:
                end_of_members = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                if not member.isfile():
                    continue
                key, extension = split_member(member.name)
                if current is not None and key != current.key:
                    complete = current.key  # a new key begins: the previous sample is whole
                reading = key
                handle = archive.extractfile(member)
                data = handle.read() if handle is not None else b""
                if len(data) != member.size:
                    raise tarfile.ReadError(f"member {member.name} is cut short")
                if current is not None and key != current.key:
                    yield current
                    current = None
                if current is None:
                    current = ShardSample(key)
                current.fields[extension] = data
            if current is not None:
                complete = current.key
                yield current
            if not counted.ends_with_marker(end_of_members):
                raise ShardReadError(
                    f"shard {url}: ends without tar's end-of-archive marker after key {complete} (cut short?)"
                )
    except ShardReadError:
        raise
    except Exception as exc:  # noqa: BLE001 - fsspec backends raise their own types: the shard is reported, the job goes on
        raise ShardReadError(
            f"shard {url}: unreadable at key {reading}, last complete key {complete} ({type(exc).__name__}: {exc})"
        ) from None


# ----------------------------------------------------------------------------------------- writing
def _member(name: str, size: int) -> tarfile.TarInfo:
    """A tar header without time, owner or permissions that vary: equal contents give equal bytes."""
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, 0, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_shard(path: Path, samples: list[tuple[str, dict[str, bytes]]]) -> str:
    """Write a shard of `samples` ((key, {extension: bytes}), in the given order) atomically at `path`;
    returns its SHA-256."""
    with atomic_target(path) as tmp:
        with (
            open(tmp, "wb") as raw,
            tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as archive,
        ):
            for key, fields in samples:
                for extension, data in fields.items():
                    archive.addfile(_member(f"{key}.{extension}", len(data)), _io.BytesIO(data))
        digest = file_sha256(tmp)
    return digest


# ------------------------------------------------------------------------------------------ index
@dataclass
class IndexEntry:
    """One finished label shard."""

    shard: str
    source: str
    count: int
    sha256: str
    teacher: str
    quality: np.ndarray  # float16, one per sample in shard order
    failed: list[str] = field(default_factory=list)  # "key: reason" of samples left out (unreadable images)

    def to_line(self) -> str:
        """The entry as one JSON line (with its newline)."""
        record = {
            "shard": self.shard,
            "source": self.source,
            "count": self.count,
            "sha256": self.sha256,
            "teacher": self.teacher,
            "quality": base64.b64encode(np.asarray(self.quality, dtype="<f2").tobytes()).decode("ascii"),
            "failed": self.failed,
        }
        return json.dumps(record, separators=(",", ":")) + "\n"

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> IndexEntry:
        quality = np.frombuffer(base64.b64decode(record["quality"]), dtype="<f2").astype(np.float32)
        return cls(
            record["shard"],
            record["source"],
            int(record["count"]),
            record["sha256"],
            record["teacher"],
            quality,
            list(record.get("failed", [])),
        )


def append_index(out: Path, entry: IndexEntry) -> None:
    """Append `entry` to `out/index.jsonl` in one write (O_APPEND: lines of concurrent ranks never
    interleave on a local filesystem) and sync it."""
    line = entry.to_line().encode("utf-8")
    descriptor = os.open(out / INDEX, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def trim_unfinished_index_line(out: Path) -> None:
    """Cut a last index line left without its newline by a crash, before the next run appends to the
    index: appended after it, the next line would be glued to it and the index could not be read."""
    path = out / INDEX
    if not path.is_file():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(path, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())


def read_index(out: Path) -> dict[str, IndexEntry]:
    """Finished label shards by name (a later line for the same shard replaces an earlier one; a last
    line cut short by a crash is ignored)."""
    path = out / INDEX
    if not path.is_file():
        return {}
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    entries: dict[str, IndexEntry] = {}
    for number, line in enumerate(lines[:-1], start=1):  # lines[-1] is "" or an unfinished line
        if not line.strip():
            continue
        try:
            entry = IndexEntry.from_record(json.loads(line))
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}:{number}: not an index line ({exc})") from None
        entries[entry.shard] = entry
    return entries


def teacher_digest(identity: dict[str, Any]) -> str:
    """A short digest of a teacher identity (stored on every index line)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode("utf-8")).hexdigest()[:16]


# ------------------------------------------------------------------------------------- random access
@dataclass(frozen=True)
class MemberTable:
    """Where each sample's members lie in a local or seekable shard: key → {extension: (offset, size)}."""

    keys: list[str]
    members: dict[str, dict[str, tuple[int, int]]]

    @classmethod
    def scan(cls, handle: BinaryIO, name: str) -> MemberTable:
        """Read the headers of a seekable shard (data is skipped by seeking)."""
        keys: list[str] = []
        members: dict[str, dict[str, tuple[int, int]]] = {}
        try:
            with tarfile.open(fileobj=handle, mode="r:") as archive:
                for member in archive.getmembers():
                    if not member.isfile():
                        continue
                    key, extension = split_member(member.name)
                    if key not in members:
                        keys.append(key)
                        members[key] = {}
                    members[key][extension] = (member.offset_data, member.size)
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise DatasetError(
                f"shard {name}: cannot list its members ({type(exc).__name__}: {exc})"
            ) from None
        return cls(keys, members)
