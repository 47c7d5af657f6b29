"""Image features: a torchvision ResNet turns every image of an image dataset into a grid of feature vectors,
computed once, stored compactly (float16, memory-mappable) and reused by every model.

Each image is read with PIL (truncated files are errors, whatever ``PIL.ImageFile.LOAD_TRUNCATED_IMAGES``
says elsewhere), converted to RGB (grayscale, CMYK and palette images exist in COCO), and preprocessed as:

* the base view: ``Resize(image_size)`` (the shorter side to ``image_size``, bilinear, antialiased) then
  ``CenterCrop(image_size)``, so the grid covers as much of the image as a square can (torchvision's own
  classification recipe, Resize(256) + CenterCrop(224), would cut the borders where tagged objects may be);
* with ``augment_views`` > 0, that many extra views of every TRAIN image: ``RandomResizedCrop(image_size)``
  (scale 0.08–1, ratio 3/4–4/3) + ``RandomHorizontalFlip``; the randomness of view ``v`` of image ``id`` is
  seeded from ``(seed, id, v)`` alone, so a view does not depend on batching, workers or skipped images;
* ImageNet mean/std normalisation.

The features are the output of the ResNet's last convolutional block (``layer4``) before average pooling:
``(channels, grid, grid)`` per image, ``grid = image_size / 32`` (7 at 224), stored as ``(grid·grid, channels)``
(channels: 512 for ResNet-18/34, 2048 for ResNet-50/101/152). :mod:`sgm_mlc.features` documents the files and
reads them (:class:`sgm_mlc.features.ImageFeatures`).

Skip rule: a file that PIL cannot read (not an image, truncated, damaged) is skipped, counted in
``features.json`` and logged with its path; its example is left out of ``index.parquet`` (its row of
``features.npy`` stays zero) and the models skip examples without features. A file that is MISSING is not
skipped but an error (the raw folder does not match the processed dataset: re-run the download step), checked
before any image is read; so is a dataset none of whose images can be read.

Weights: ``none`` is a random, seeded initialisation (tests, and a baseline of features that know nothing of
images) whose BatchNorm layers take their running statistics from :data:`BATCH_NORM_CALIBRATION_IMAGES` images
of seeded Gaussian noise: initialised to mean 0 and variance 1, they would normalise nothing in eval mode, and
the activations would grow block by block (ResNet-101 at 224 px overflows float16). Noise, not the dataset's
images, so that the extractor is one function of the seed on every dataset (a COCO → VOC evaluation reads
both datasets' features from the same network). ``imagenet`` is torchvision's
``ResNet{depth}_Weights.IMAGENET1K_V1`` read from ``weights_path`` or from torch's hub cache
(``torch.hub.get_dir()/checkpoints/<file name of the weights' URL>``). Nothing is ever downloaded: the network
is built without weights and the file is loaded with ``torch.load``; while it is built, torch's download
function is replaced by one that refuses. A missing file stops the step with one line naming the URL to get
and the place to put it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
import torchvision
from PIL import Image, ImageFile
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset
from torchvision import transforms
from tqdm import tqdm

from sgm_mlc.atomic import atomic_directory
from sgm_mlc.data.download import sha256_of
from sgm_mlc.data.parquet import read_examples, read_modality
from sgm_mlc.data.preprocess import EXAMPLES_FILE
from sgm_mlc.features import AUGMENTED_FILE, AUGMENTED_INDEX_FILE, FEATURES_FILE, INDEX_FILE, META_FILE
from sgm_mlc.training.device import autocast, select_device, seed_everything, uses_bf16

log = logging.getLogger(__name__)

STRIDE = 32  # a ResNet's last feature map is the input downsampled 32 times
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# What PIL raises for a file it cannot decode (UnidentifiedImageError and truncation are OSErrors).
UNREADABLE = (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError)
_HASH_PREFIX = re.compile(r"-([a-f0-9]+)\.")  # torch.hub's convention: resnet50-0676ba61.pth
BATCH_NORM_CALIBRATION_IMAGES = 64


# --- weights -------------------------------------------------------------------------------------------------


def imagenet_weights(depth: int) -> torchvision.models.WeightsEnum:
    """torchvision's ``ResNet{depth}_Weights.IMAGENET1K_V1`` (only its URL and metadata are used)."""
    return getattr(torchvision.models, f"ResNet{depth}_Weights").IMAGENET1K_V1


def cached_weights_path(depth: int) -> Path:
    """Where torch's hub cache keeps the ImageNet weights of ResNet-``depth`` (``$TORCH_HOME`` moves it)."""
    url = imagenet_weights(depth).url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def resolve_weights(settings: dict[str, Any]) -> dict[str, Any] | None:
    """The weights file to load (path, URL, sha256), or ``None`` for ``weights: none``.

    Raises ``FileNotFoundError`` (one line: the URL to get and where to put it) when the file is absent, and
    ``ValueError`` when a file under torchvision's own name does not have the sha256 that name announces.
    """
    if settings["weights"] == "none":
        return None
    depth = settings["depth"]
    url = imagenet_weights(depth).url
    cache = cached_weights_path(depth)
    if settings["weights_path"] is None:
        path = cache
        if not path.is_file():
            raise FileNotFoundError(
                f"ResNet-{depth} ImageNet weights not found: download {url} and put it at {cache} "
                f"(or set image_features.weights_path to the file)"
            )
    else:
        path = Path(settings["weights_path"])
        if not path.is_file():
            raise FileNotFoundError(
                f"image_features.weights_path {path} not found: download {url} to {path} "
                f"(or set weights_path: null and put it at {cache})"
            )
    sha256 = sha256_of(path)
    expected = _HASH_PREFIX.search(cache.name)
    if path.name == cache.name and expected and not sha256.startswith(expected.group(1)):
        raise ValueError(
            f"{path}: sha256 {sha256[:12]}… does not start with {expected.group(1)} as its name says: the file is "
            f"damaged or not torchvision's; download {url} again"
        )
    return {"path": path, "url": url, "sha256": sha256}


@contextmanager
def no_downloads() -> Iterator[None]:
    """torch's hub download function replaced by one that refuses (torchvision fetches weights through it)."""
    original = torch.hub.download_url_to_file

    def refuse(url: str, dst: str, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(f"image features never download: {url} was asked for; put the file at {dst} by hand")

    torch.hub.download_url_to_file = refuse
    try:
        yield
    finally:
        torch.hub.download_url_to_file = original


def resnet_trunk(depth: int, weights_file: Path | None) -> tuple[torch.nn.Sequential, int]:
    """ResNet-``depth`` up to its last convolutional block (no pooling, no classifier), in eval mode, with the
    state dict of ``weights_file`` (torchvision's format) or torch's current random initialisation; and its
    output channels."""
    with no_downloads():
        network = getattr(torchvision.models, f"resnet{depth}")(weights=None)
    if weights_file is not None:
        try:
            state = torch.load(weights_file, map_location="cpu", weights_only=True)
            network.load_state_dict(state)
        except (RuntimeError, ValueError, TypeError, EOFError, pickle.UnpicklingError) as error:
            reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            raise ValueError(f"{weights_file}: not a ResNet-{depth} state dict ({reason})") from None
    channels = network.fc.in_features
    trunk = torch.nn.Sequential(*list(network.children())[:-2])  # drop avgpool and fc
    return trunk.eval(), channels


def calibrate_batch_norm(trunk: torch.nn.Module, batches: Iterator[torch.Tensor]) -> int:
    """Set the running mean and variance of every BatchNorm layer of ``trunk`` to their averages over
    ``batches`` of ``(n, 3, size, size)`` images, and leave ``trunk`` in eval mode; the number of images seen."""
    layers = [module for module in trunk.modules() if isinstance(module, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # a cumulative average over the batches
    trunk.train()
    seen = 0
    with torch.no_grad():
        for batch in batches:
            trunk(batch)
            seen += len(batch)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    trunk.eval()
    return seen


# --- images --------------------------------------------------------------------------------------------------


@contextmanager
def strict_truncation() -> Iterator[None]:
    """PIL raises on truncated files inside the block, whatever ``LOAD_TRUNCATED_IMAGES`` is set to elsewhere."""
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def read_rgb(path: Path) -> Image.Image:
    """The fully decoded image at ``path`` in RGB; raises one of :data:`UNREADABLE` for a bad file."""
    with strict_truncation(), Image.open(path) as image:
        image.load()
        if image.mode == "P" and "transparency" in image.info:
            return image.convert("RGBA").convert("RGB")
        return image.convert("RGB")


def base_transform(image_size: int) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.Resize(image_size),
            transforms.CenterCrop(image_size),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def augment_transform(image_size: int) -> transforms.Compose:
    return transforms.Compose(
        [
            transforms.RandomResizedCrop(image_size),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )


def view_seed(seed: int, image_id: str, view: int) -> int:
    """The seed of augmented view ``view`` of ``image_id`` (stable across processes: no ``hash()``)."""
    digest = hashlib.sha256(f"{seed}/{image_id}/{view}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)


class ImageViews(TorchDataset):
    """Item ``i``: ``(i, crops, error)``: the base view of image ``i`` and, for a train image, its
    ``augment_views`` random views, stacked ``(views, 3, size, size)``; or ``(i, None, message)`` when the file
    cannot be read."""

    def __init__(
        self,
        paths: Sequence[Path],
        ids: Sequence[str],
        train: Sequence[bool],
        image_size: int,
        augment_views: int,
        seed: int,
    ) -> None:
        self.paths, self.ids, self.train = list(paths), list(ids), list(train)
        self.base = base_transform(image_size)
        self.augment = augment_transform(image_size)
        self.augment_views = augment_views
        self.seed = seed

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, position: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            image = read_rgb(self.paths[position])
        except UNREADABLE as error:
            return position, None, f"{type(error).__name__}: {error}"
        crops = [self.base(image)]
        if self.train[position]:
            for view in range(1, self.augment_views + 1):
                # The transforms draw from torch's CPU generator: seed it for this view, then restore it.
                with torch.random.fork_rng(devices=[]):
                    torch.default_generator.manual_seed(view_seed(self.seed, self.ids[position], view))
                    crops.append(self.augment(image))
        return position, torch.stack(crops), None


def collate_views(
    items: Sequence[tuple[int, torch.Tensor | None, str | None]],
) -> tuple[list[int], list[int], torch.Tensor | None, list[tuple[int, str]]]:
    """A batch: positions of the images read, their number of views, all their crops concatenated (``None``
    when no image of the batch could be read), and the ``(position, error)`` of the others."""
    positions, counts, crops, failures = [], [], [], []
    for position, views, error in items:
        if views is None:
            failures.append((position, error or "unreadable"))
        else:
            positions.append(position)
            counts.append(len(views))
            crops.append(views)
    return positions, counts, (torch.cat(crops) if crops else None), failures


def noise_batches(image_size: int, batch_size: int, seed: int, device: torch.device) -> Iterator[torch.Tensor]:
    """:data:`BATCH_NORM_CALIBRATION_IMAGES` images of standard Gaussian noise ``(n, 3, size, size)`` drawn from
    ``seed``, in batches of ``batch_size`` (two at least: BatchNorm's training-mode statistics need more than one
    value per channel)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(BATCH_NORM_CALIBRATION_IMAGES, 3, image_size, image_size, generator=generator)
    for batch in noise.split(max(2, batch_size)):
        if len(batch) > 1:
            yield batch.to(device)


def to_float16(grids: torch.Tensor) -> np.ndarray:
    """``(n, channels, grid, grid)`` feature maps as ``(n, grid·grid, channels)`` float16 (row-major cells)."""
    n, channels = grids.shape[:2]
    values = grids.float().permute(0, 2, 3, 1).reshape(n, -1, channels).cpu().numpy().astype(np.float16)
    if not np.isfinite(values).all():
        raise ValueError("image features overflow float16 (values beyond ±65504); check the weights file")
    return values


# --- the step ------------------------------------------------------------------------------------------------


def _open_array(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """A float16 ``.npy`` file of ``shape``, memory-mapped for writing (an empty file has nothing to map)."""
    if shape[0] == 0:
        array = np.zeros(shape, dtype=np.float16)
        np.save(path, array)
        return array
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)


def _close(array: np.ndarray) -> None:
    if isinstance(array, np.memmap):
        array.flush()


def build_image_features(params: dict[str, Any], processed_dir: Path, raw_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Compute the features of every image of ``processed_dir/examples.parquet`` (paths relative to
    ``raw_dir``) and write them into ``out_dir`` (replaced as a whole, only if everything succeeds); return the
    contents of ``features.json``. ``params`` is the ``image_features`` section of params.yaml (validated by its schema)."""
    settings = params
    processed_dir, raw_dir, out_dir = Path(processed_dir), Path(raw_dir), Path(out_dir)
    source = processed_dir / EXAMPLES_FILE
    if read_modality(source) != "image":
        raise ValueError(f"{source} is a {read_modality(source)} dataset; image features need an image dataset")
    examples = read_examples(source, columns=["id", "split", "image"])
    if examples.empty:
        raise ValueError(f"{source} has no examples")
    if examples["image"].isna().any():
        first = examples.loc[examples["image"].isna(), "id"].iloc[0]
        raise ValueError(f"{source}: example {first} has no image path; re-run the preprocess step")
    ids = examples["id"].tolist()
    splits = examples["split"].tolist()
    relative = examples["image"].tolist()
    paths = [raw_dir / name for name in relative]
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} images of {source} are missing under {raw_dir} (first: {missing[0]}); "
            f"re-run the download step"
        )

    device = select_device(settings["device"])
    bf16 = uses_bf16(device, settings["precision"])
    weights = resolve_weights(settings)
    seed_everything(settings["seed"], device)
    depth, image_size, views = settings["depth"], settings["image_size"], settings["augment_views"]
    trunk, channels = resnet_trunk(depth, weights["path"] if weights else None)
    if device.type == "cuda":
        trunk = trunk.to(device, memory_format=torch.channels_last)
    if weights is None:
        calibrate_batch_norm(trunk, noise_batches(image_size, settings["batch_size"], settings["seed"], device))
    grid = image_size // STRIDE
    train_rank = {position: rank for rank, position in enumerate(i for i, s in enumerate(splits) if s == "train")}
    n_train = len(train_rank)

    dataset = ImageViews(paths, ids, [s == "train" for s in splits], image_size, views, settings["seed"])
    loader = DataLoader(
        dataset,
        batch_size=settings["batch_size"],
        shuffle=False,
        num_workers=settings["workers"],
        collate_fn=collate_views,
        pin_memory=device.type == "cuda",
    )
    log.info(
        "resnet%d features of %d images (%d train × %d extra views) at %d px on %s (%s)",
        depth, len(paths), n_train, views, image_size, device, "bf16" if bf16 else "fp32",
    )  # fmt: skip

    read: list[int] = []
    skipped: list[dict[str, str]] = []
    started = time.perf_counter()
    with atomic_directory(out_dir) as folder:
        features = _open_array(folder / FEATURES_FILE, (len(paths), grid * grid, channels))
        augmented = _open_array(folder / AUGMENTED_FILE, (n_train * views, grid * grid, channels)) if views else None
        with torch.inference_mode():
            interval = 1 if sys.stderr.isatty() else 30
            progress = tqdm(loader, desc="image features", unit="batch", file=sys.stderr, mininterval=interval)
            for positions, counts, crops, failures in progress:
                for position, error in failures:
                    log.warning("skipping unreadable image %s (%s)", paths[position], error)
                    skipped.append({"id": ids[position], "image": relative[position], "error": error})
                if crops is None:
                    continue
                if device.type == "cuda":
                    crops = crops.to(device, memory_format=torch.channels_last, non_blocking=True)
                maps = []
                for chunk in crops.split(settings["batch_size"]):
                    with autocast(device, bf16):
                        maps.append(trunk(chunk).float())
                grids = to_float16(torch.cat(maps))
                offset = 0
                for position, count in zip(positions, counts, strict=True):
                    features[position] = grids[offset]
                    if count > 1:
                        start = train_rank[position] * views
                        augmented[start : start + views] = grids[offset + 1 : offset + count]
                    offset += count
                read.extend(positions)
        seconds = time.perf_counter() - started
        if not read:
            raise ValueError(f"none of the {len(paths)} images of {source} could be read (see the warnings above)")
        _close(features)
        if augmented is not None:
            _close(augmented)
        read.sort()
        pq.write_table(
            pa.table(
                {
                    "id": pa.array([ids[i] for i in read], pa.string()),
                    "split": pa.array([splits[i] for i in read], pa.string()),
                    "row": pa.array(read, pa.int64()),
                }
            ),
            folder / INDEX_FILE,
        )
        read_train = [i for i in read if i in train_rank]
        if views:
            pq.write_table(
                pa.table(
                    {
                        "id": pa.array([ids[i] for i in read_train for _ in range(views)], pa.string()),
                        "view": pa.array([v for _ in read_train for v in range(1, views + 1)], pa.int32()),
                        "row": pa.array(
                            [train_rank[i] * views + v for i in read_train for v in range(views)], pa.int64()
                        ),
                    }
                ),
                folder / AUGMENTED_INDEX_FILE,
            )
        split_counts = {split: sum(1 for i in read if splits[i] == split) for split in dict.fromkeys(splits)}
        meta = {
            "network": f"resnet{depth}",
            "depth": depth,
            "layer": "layer4, the last convolutional block, before average pooling",
            "image_size": image_size,
            "grid": grid,
            "positions": grid * grid,
            "channels": channels,
            "dtype": "float16",
            "preprocessing": f"RGB; Resize({image_size}) + CenterCrop({image_size}); ImageNet mean/std",
            "augmentation": (
                f"RandomResizedCrop({image_size}) + RandomHorizontalFlip, seeded by (seed, id, view)" if views else None
            ),
            "augment_views": views,
            "seed": settings["seed"],
            "weights": settings["weights"],
            "weights_file": str(weights["path"]) if weights else None,
            "weights_url": weights["url"] if weights else None,
            "weights_sha256": weights["sha256"] if weights else None,
            "batch_norm_statistics": (
                f"running mean and variance over {BATCH_NORM_CALIBRATION_IMAGES} images of Gaussian noise (seed)"
                if weights is None
                else "the weights'"
            ),
            "device": device.type,
            "precision": "bf16" if bf16 else "fp32",
            "examples": len(paths),
            "images": len(read),
            "splits": split_counts,
            "augmented_views": len(read_train) * views,
            "skipped": len(skipped),
            "skipped_images": skipped,
            "seconds": round(seconds, 3),
            "images_per_second": round(len(read) / seconds, 3) if seconds > 0 else None,
            "crops_per_second": round((len(read) + len(read_train) * views) / seconds, 3) if seconds > 0 else None,
            "torch": torch.__version__,
            "torchvision": torchvision.__version__,
        }
        (folder / META_FILE).write_text(
            json.dumps(meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        del features, augmented
    log.info(
        "%d image features (%d×%d×%d) in %.1f s (%.1f images/s); %d unreadable image(s) skipped",
        len(read), grid, grid, channels, seconds, meta["images_per_second"] or 0.0, len(skipped),
    )  # fmt: skip
    return meta
