"""Batches of images from WebDataset shards: shuffled exact epochs for training, eval in order.

Each reader (one per DataLoader worker and DDP rank, a "slot") reads its own shards,
so that every sample is read exactly once per epoch without a global index. Training
permutes the shard order with an RNG seeded by (seed, epoch), shuffles samples in a
buffer, random-crops and flips; evaluation reads in manifest order and center-crops.
Given seed, epoch and the number of workers and ranks, the batches are the same on
every run, which is what lets a resumed CPU run equal an uninterrupted one.
"""

from __future__ import annotations

import itertools
import math
import mmap
import random
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import simplejpeg
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from irnoise.data.manifest import checked_rows, read_manifest, split_shards
from irnoise.data.ustar import ustar_index
from irnoise.errors import UserError

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # images, labels, rows

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SHUFFLE_BUFFER = 2000
SHUFFLE_INITIAL = 500  # samples buffered before the first is drawn: a quicker start
# Decode a train split once per job, and keep its uint8 pixels, when they fit here.
DECODED_SPLIT_MAX_BYTES = 2 * 1024**3


def assign_shards(shards: list[Path], slot: int, slots: int) -> tuple[list[Path], int, int]:
    """What one reader reads: (shards, stride, offset) of their concatenated samples.

    With at least as many shards as readers, each reads whole shards (no wasted I/O).
    With fewer, every reader walks all shards and keeps every `slots`-th sample, so that
    no worker sits idle on a small dataset; either way each sample has exactly one reader.
    """
    if len(shards) >= slots:
        return shards[slot::slots], 1, 0
    return shards, slots, slot


def open_shards(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Shard streams for webdataset's tar reader, each closed once it has been read."""
    for path in paths:
        with open(path, "rb") as stream:
            yield {"url": str(path), "stream": stream}


def tar_files(paths: list[Path]) -> Iterator[dict[str, Any]]:
    """Files of the shards, as webdataset's tar reader yields them ({} ends each shard).

    Python's tarfile decodes every header field in Python, ~50 µs per member, three
    members per sample: 20% of decoding a 256 px JPEG. irnoise's shards are plain ustar,
    whose name, size and type fields are read here directly; any other tar goes
    through webdataset's tarfile-based reader.
    """
    import webdataset as wds

    for path in paths:
        if path.stat().st_size == 0:
            raise UserError(f"shard {path} is empty: delete its directory, rerun `irnoise shard`")
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, prot=mmap.PROT_READ) as data:
            try:
                index = ustar_index(data)
            except ValueError:  # a malformed header: let tarfile say what is wrong
                index = None
            if index is None:
                yield from wds.tariterators.tar_file_expander(open_shards([path]))
                continue
            for name, start, size in index:
                yield {"fname": name, "data": data[start : start + size], "__url__": str(path)}
        yield {}


def decode_jpeg(data: bytes) -> torch.Tensor:
    """JPEG bytes -> uint8 RGB tensor (3, H, W) through simplejpeg's libjpeg-turbo.

    Not torchvision.io: the same pixels, ~1.5x faster on small images, and importing
    torchvision.io costs every job ~2-3 s of CPU (it imports torch._dynamo), paid by
    ~170 jobs of the default study (bench/startup.py).
    """
    return torch.from_numpy(simplejpeg.decode_jpeg(data, colorspace="RGB")).permute(2, 0, 1)


def fit_to_crop(image: torch.Tensor, crop_size: int) -> torch.Tensor:
    """Upscale an image whose shorter side is below the crop (shards are usually larger)."""
    height, width = image.shape[1:]
    if min(height, width) >= crop_size:
        return image
    from torchvision.transforms.v2.functional import resize

    return resize(image, [crop_size], antialias=True)


def random_crop(image: torch.Tensor, size: int, flip: bool, rng: random.Random) -> torch.Tensor:
    image = fit_to_crop(image, size)
    height, width = image.shape[1:]
    top, left = rng.randint(0, height - size), rng.randint(0, width - size)
    crop = image[:, top : top + size, left : left + size]
    return crop.flip(-1) if flip and rng.random() < 0.5 else crop


def center_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    image = fit_to_crop(image, size)
    height, width = image.shape[1:]
    top, left = (height - size) // 2, (width - size) // 2
    return image[:, top : top + size, left : left + size]


def normalize(images: torch.Tensor) -> torch.Tensor:
    """uint8 NCHW -> float NCHW with ImageNet mean and std, one pass over the batch."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=images.device).view(1, 3, 1, 1) * 255
    return images.float().sub_(mean).div_(std)


class ShardBatches(IterableDataset):
    """One epoch of batches from one split's shards, as read by one worker of one rank.

    Batches are made in the worker (no per-sample collate in the main process) and stay
    uint8 until `batches` normalizes them where they are used: a quarter of the bytes
    through shared memory and to the GPU. Each worker's last batch may be short;
    `rebatch` merges those.
    """

    def __init__(
        self,
        shards: list[Path],
        crop_size: int,
        batch_size: int,
        labels: np.ndarray | None = None,
        train: bool = False,
        seed: int = 0,
        epoch: int = 0,
        flip: bool = True,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.shards, self.crop_size, self.batch_size = shards, crop_size, batch_size
        self.labels, self.train, self.flip = labels, train, flip
        self.seed, self.epoch, self.rank, self.world_size = seed, epoch, rank, world_size

    def slot(self) -> tuple[int, int]:
        """(this reader's slot, number of slots) across ranks and DataLoader workers."""
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        return self.rank * workers + worker, self.world_size * workers

    def samples(self) -> Iterator[dict[str, Any]]:
        import webdataset as wds

        slot, slots = self.slot()
        shards = list(self.shards)
        if self.train:
            # The same permutation in every reader (seeded by seed and epoch alone).
            random.Random(f"shards-{self.seed}-{self.epoch}").shuffle(shards)
        mine, stride, offset = assign_shards(shards, slot, slots)
        samples = itertools.islice(self.shard_samples(mine), offset, None, stride)
        if self.train:
            rng = random.Random(f"buffer-{self.seed}-{self.epoch}-{slot}-{slots}")
            samples = wds.shuffle(SHUFFLE_BUFFER, SHUFFLE_INITIAL, rng=rng)(iter(samples))
        return samples

    def shard_samples(self, shards: list[Path]) -> Iterable[dict[str, Any]]:
        """The samples of `shards`, in order: read from the tar files."""
        return itertools.chain.from_iterable(read_shard(path) for path in shards)

    def __iter__(self) -> Iterator[Batch]:
        slot, slots = self.slot()
        rng = random.Random(f"augment-{self.seed}-{self.epoch}-{slot}-{slots}")
        samples = self.samples()
        while chunk := list(itertools.islice(samples, self.batch_size)):
            yield self.make_batch(chunk, rng)

    def make_batch(self, samples: list[dict[str, Any]], rng: random.Random) -> Batch:
        size = self.crop_size
        images = batch_tensor((len(samples), 3, size, size))
        rows = torch.tensor([int(sample["idx"]) for sample in samples], dtype=torch.int64)
        for i, sample in enumerate(samples):
            image = sample["image"] if "image" in sample else decode_jpeg(sample["jpg"])
            if self.train:
                images[i] = random_crop(image, size, self.flip, rng)
            else:
                images[i] = center_crop(image, size)
        if self.labels is not None:
            # Noisy labels overlay the clean ones by row: the shards never change.
            labels = torch.from_numpy(self.labels[rows.numpy()].astype(np.int64))
        else:
            labels = torch.tensor([int(sample["cls"]) for sample in samples], dtype=torch.int64)
        return images, labels, rows


def read_shard(path: Path) -> Iterator[dict[str, Any]]:
    """The samples of one shard file, checked against its manifest (count and rows)."""
    import webdataset as wds

    return checked_rows(path, wds.tariterators.group_by_keys(tar_files([path])))


class DecodedSplit:
    """A split's samples, each JPEG decoded once, in shard order: the input of many epochs.

    Decoded once, an epoch only crops, in the training process: no loader worker
    competing with the compute threads for a CPU's cores, no decode per epoch
    (bench/train_throughput.py, bench/RESULTS.md).
    """

    def __init__(self, shards: list[Path]) -> None:
        self.samples: dict[Path, list[dict[str, Any]]] = {}
        for path in shards:
            self.samples[path] = [
                {"idx": sample["idx"], "cls": sample["cls"], "image": decode_jpeg(sample["jpg"])}
                for sample in read_shard(path)
            ]

    @staticmethod
    def fits(shard_dir: str | Path, split: str) -> bool:
        """Whether the split's decoded pixels fit DECODED_SPLIT_MAX_BYTES (from the manifest)."""
        manifest = read_manifest(shard_dir)
        side = int(manifest.get("image_size") or 0)
        count = int(manifest["splits"][split]["count"])
        # image_size is the shorter side; allow 2:1 images.
        return 0 < 2 * 3 * side * side * count <= DECODED_SPLIT_MAX_BYTES


class DecodedBatches(ShardBatches):
    """ShardBatches over a DecodedSplit: the same batches, without reading or decoding.

    Shard permutation, sample shuffle and augmentation draw from the same seeded RNGs
    in the same order as ShardBatches in one reader, so the batches are identical to
    the streaming loader's with 0 or 1 workers. Runs in the main process (no workers).
    """

    def __init__(self, decoded: DecodedSplit, *args: Any, **kwargs: Any) -> None:
        super().__init__(list(decoded.samples), *args, **kwargs)
        self.decoded = decoded

    def shard_samples(self, shards: list[Path]) -> Iterable[dict[str, Any]]:
        """The samples of `shards`, in order: decoded already."""
        return itertools.chain.from_iterable(self.decoded.samples[path] for path in shards)


def batch_tensor(shape: tuple[int, ...]) -> torch.Tensor:
    """An uninitialized uint8 batch; in a worker, in shared memory from the start.

    A worker's tensors reach the main process through shared memory; allocating there,
    as torch's default_collate does, saves copying each batch once more.
    """
    if get_worker_info() is None:
        return torch.empty(shape, dtype=torch.uint8)
    storage = torch.UntypedStorage._new_shared(math.prod(shape))
    return torch.empty(0, dtype=torch.uint8).set_(storage).view(shape)


def rebatch(batches: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """Full batches pass through; the workers' short last batches are merged at the end."""
    short: list[Batch] = []
    for batch in batches:
        if len(batch[0]) == batch_size:
            yield batch
        else:
            short.append(batch)
    if short:
        merged = [torch.cat(parts) for parts in zip(*short, strict=True)]
        for start in range(0, len(merged[0]), batch_size):
            yield tuple(part[start : start + batch_size] for part in merged)  # type: ignore[misc]


def batches(
    dataset: ShardBatches,
    workers: int,
    pin_memory: bool = False,
    device: str | torch.device | None = None,
) -> Iterator[Batch]:
    """Batches with normalized float images on `device` (default CPU); labels, rows on CPU."""
    loader = DataLoader(
        dataset,
        batch_size=None,  # the dataset yields whole batches
        num_workers=workers,
        pin_memory=pin_memory,
        # Its own generator: drawing worker seeds must not advance the global torch RNG.
        generator=torch.Generator(),
    )
    for images, labels, rows in rebatch(loader, dataset.batch_size):
        if device is not None:
            images = images.to(device, non_blocking=pin_memory)
        yield normalize(images), labels, rows


def train_loader(
    shard_dir: str | Path,
    labels: np.ndarray,
    crop_size: int,
    batch_size: int,
    workers: int,
    seed: int,
    epoch: int,
    flip: bool = True,
    *,
    rank: int = 0,
    world_size: int = 1,
    pin_memory: bool = False,
    device: str | torch.device | None = None,
    decoded: DecodedSplit | None = None,
) -> Iterator[Batch]:
    """One training epoch: (images, labels, rows), every train sample exactly once overall.

    `labels[row]` is the label of train row `row` (noisy or clean). Under DDP each rank
    reads a disjoint part; together they cover the split once. With `device`, images are
    moved there as uint8 and normalized there (on a GPU: 4x fewer bytes to copy). With
    `decoded` (the train split decoded once), batches are cropped from memory in this
    process, `workers` ignored: the same batches as one worker reading the shards.
    """
    settings: dict[str, Any] = {
        "labels": labels,
        "train": True,
        "seed": seed,
        "epoch": epoch,
        "flip": flip,
        "rank": rank,
        "world_size": world_size,
    }
    if decoded is not None:
        dataset: ShardBatches = DecodedBatches(decoded, crop_size, batch_size, **settings)
        workers = 0
    else:
        shards = split_shards(shard_dir, "train")
        dataset = ShardBatches(shards, crop_size, batch_size, **settings)
    return batches(dataset, workers, pin_memory, device)


def eval_batches(
    shard_dir: str | Path,
    split: str,
    crop_size: int,
    batch_size: int,
    workers: int = 0,
    pin_memory: bool = False,
    device: str | torch.device | None = None,
) -> Iterator[Batch]:
    """(images, clean labels, rows) of every sample of `split`, center-cropped, unshuffled.

    Rows come in a fixed order but not sorted when workers > 0: place results by `rows`.
    """
    dataset = ShardBatches(split_shards(shard_dir, split), crop_size, batch_size)
    return batches(dataset, workers, pin_memory, device)
