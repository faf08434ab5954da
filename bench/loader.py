"""Training input pipeline: irnoise's shard loader against ImageFolder and in-memory decoding.

    nice .venv/bin/python bench/loader.py [--count 2000] [--workers 1] [--repeats 3]

The same `--count` JPEGs (256 px shorter side, photo-like content) are written as a
torchvision ImageFolder tree and as irnoise shards (`irnoise.data.sharding.write_shards`).
Three pipelines then produce one epoch of normalized 224 px random crops with flips in
batches of 64 on the same number of DataLoader workers, interleaved `--repeats` times:

1. torchvision ImageFolder + RandomCrop + RandomHorizontalFlip + ToTensor + Normalize
   (the baseline a PyTorch user writes; target: irnoise >= 1.0x its images/s);
2. the same JPEG bytes held in memory in a map-style Dataset, decoded and augmented by
   irnoise's own functions, batches normalized after collation as irnoise does (the cost
   of decoding alone, without tar reading; target: irnoise >= 0.9x);
3. `irnoise.data.loader.train_loader` over the shards.

It also times three JPEG decoders on the same bytes in this process: PIL, torchvision.io
and simplejpeg (irnoise's, `irnoise.data.loader.decode_jpeg`).
"""

from __future__ import annotations

import argparse
import io
import random
import shutil
import statistics
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset

from irnoise.data import loader
from irnoise.data.datasets.base import DatasetIndex, Record
from irnoise.data.sharding import write_shards

OUT = Path(__file__).parent / "out" / "loader"
CROP, BATCH, CLASSES = 224, 64, 50


def photo_like(rng: np.random.Generator, shorter: int = 256) -> Image.Image:
    """Smooth color regions plus grain: compresses to photo-like sizes (~20-40 kB)."""
    coarse = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    size = (shorter * 4 // 3, shorter)
    base = np.asarray(Image.fromarray(coarse).resize(size, Image.Resampling.BICUBIC), float)
    pixels = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def make_data(count: int) -> tuple[Path, Path]:
    """(ImageFolder root, shard directory) holding the same JPEG bytes."""
    folder, shards = OUT / f"imagefolder_{count}", OUT / f"shards_{count}"
    if not (shards / "manifest.json").is_file():
        shutil.rmtree(OUT, ignore_errors=True)
        rng = np.random.default_rng(0)
        records = []
        for i in range(count):
            path = folder / f"class{i % CLASSES:02d}" / f"{i:06d}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            photo_like(rng).save(path, quality=90)
            records.append(Record(f"{i:06d}", path, f"class{i % CLASSES:02d}"))
        index = DatasetIndex("bench", folder, {"train": records})
        write_shards(index, shards, image_size=256, shard_size=500)
    return folder, shards


class InMemoryJPEGs(Dataset):
    """The JPEG bytes in a list, decoded and cropped like irnoise does it, per sample.

    Like irnoise, workers hand uint8 crops over and the batch is normalized after: the
    difference to irnoise is then only reading tar shards and the shuffle buffer.
    """

    def __init__(self, folder: Path) -> None:
        paths = sorted(folder.glob("*/*.jpg"))
        self.data = [path.read_bytes() for path in paths]
        self.labels = [int(path.parent.name.removeprefix("class")) for path in paths]

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        image = loader.decode_jpeg(self.data[i])
        return loader.random_crop(image, CROP, True, random), self.labels[i]


def imagefolder_batches(folder: Path, workers: int) -> Iterable:
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [
            transforms.RandomCrop(CROP),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(loader.IMAGENET_MEAN, loader.IMAGENET_STD),
        ]
    )
    dataset = datasets.ImageFolder(str(folder), transform=transform)
    return DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers)


def memory_batches(dataset: InMemoryJPEGs, workers: int) -> Iterable:
    batches = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=workers)
    return ((loader.normalize(images), labels) for images, labels in batches)


def irnoise_batches(shards: Path, workers: int, epoch: int) -> Iterable:
    labels = np.load(shards / "train_labels.npy")
    return loader.train_loader(shards, labels, CROP, BATCH, workers, seed=0, epoch=epoch)


def images_per_second(batches: Iterable) -> float:
    """Images per second over one epoch (loaders start their workers when iterated)."""
    started = time.perf_counter()
    images = sum(len(batch[0]) for batch in batches)
    return images / (time.perf_counter() - started)


def decode_pil(data: bytes) -> torch.Tensor:
    with Image.open(io.BytesIO(data)) as image:
        array = np.array(image.convert("RGB"))
    return torch.from_numpy(array).permute(2, 0, 1)


def decode_torchvision(data: bytes) -> torch.Tensor:
    from torchvision.io import ImageReadMode, decode_jpeg

    with warnings.catch_warnings():  # torchvision 0.29 deprecates its decoders
        warnings.simplefilter("ignore", DeprecationWarning)
        return decode_jpeg(torch.frombuffer(bytearray(data), dtype=torch.uint8), ImageReadMode.RGB)


def decoder_times(folder: Path, count: int = 200) -> dict[str, float]:
    """Median microseconds per image of each decoder over the same bytes."""
    data = [path.read_bytes() for path in sorted(folder.glob("*/*.jpg"))[:count]]
    decoders = {
        "PIL": decode_pil,
        "torchvision.io": decode_torchvision,
        "simplejpeg (irnoise)": loader.decode_jpeg,
    }
    times: dict[str, list[float]] = {name: [] for name in decoders}
    for _ in range(3):
        for name, decode in decoders.items():
            started = time.perf_counter()
            for item in data:
                decode(item)
            times[name].append((time.perf_counter() - started) / len(data) * 1e6)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder, shards = make_data(args.count)
    for name, micros in decoder_times(folder).items():
        print(f"decode {name}: {micros:.0f} µs/image (256 px shorter side)")
    memory = InMemoryJPEGs(folder)
    pipelines = {
        "ImageFolder": lambda epoch: imagefolder_batches(folder, args.workers),
        "in-memory bytes": lambda epoch: memory_batches(memory, args.workers),
        "irnoise train_loader": lambda epoch: irnoise_batches(shards, args.workers, epoch),
    }
    rates: dict[str, list[float]] = {name: [] for name in pipelines}
    for epoch in range(1, args.repeats + 1):
        for name, make in pipelines.items():
            rates[name].append(images_per_second(make(epoch)))
    median = {name: statistics.median(values) for name, values in rates.items()}
    print(f"{args.count} JPEGs, {CROP} px crops, batch {BATCH}, {args.workers} worker(s):")
    for name, rate in median.items():
        print(f"  {name}: {rate:.0f} images/s")
    ours = median["irnoise train_loader"]
    print(f"irnoise / ImageFolder: {ours / median['ImageFolder']:.2f}x (target >= 1.0)")
    print(f"irnoise / in-memory bytes: {ours / median['in-memory bytes']:.2f}x (target >= 0.9)")


if __name__ == "__main__":
    main()
