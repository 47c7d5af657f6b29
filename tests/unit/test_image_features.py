"""The image-feature phase on a handful of tiny images: ResNet-18 at 64 px (a 2×2 grid), random seeded weights."""

import hashlib
import json
import logging

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image, ImageFile

from sgm_mlc.config import ParamsError, validate_sections
from sgm_mlc.data.base import Example
from sgm_mlc.data.parquet import write_examples
from sgm_mlc.features import ImageFeatures
from sgm_mlc.features import images as image_features
from sgm_mlc.features.images import (
    ImageViews,
    base_transform,
    build_image_features,
    cached_weights_path,
    calibrate_batch_norm,
    read_rgb,
    resnet_trunk,
    to_float16,
)
from sgm_mlc.training.device import autocast, select_device, uses_bf16

# id → (split, file); "e" is a JPEG cut in half and "f" is not an image at all.
IMAGES = {
    "a": ("train", "a.jpg"),
    "b": ("train", "b.png"),
    "c": ("valid", "c.jpg"),
    "d": ("test", "d.png"),
    "e": ("train", "e.jpg"),
    "f": ("test", "f.jpg"),
    "g": ("train", "g.jpg"),
}
READABLE = ["a", "b", "c", "d", "g"]
READABLE_TRAIN = ["a", "b", "g"]
PARAMS = {
    "depth": 18,
    "image_size": 64,
    "weights": "none",
    "batch_size": 2,
    "augment_views": 2,
    "seed": 3,
    "device": "cpu",
    "precision": "fp32",
    "weights_path": None,
    "workers": 0,
}


def noise(rng, height, width):
    return Image.fromarray(rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8))


@pytest.fixture
def dataset(tmp_path):
    """(processed folder, raw folder) of seven images: RGB, grayscale, CMYK, palette, truncated, not an image."""
    rng = np.random.default_rng(0)
    raw = tmp_path / "raw"
    folder = raw / "images"
    folder.mkdir(parents=True)
    noise(rng, 60, 80).save(folder / "a.jpg", quality=90)
    noise(rng, 90, 50).convert("L").save(folder / "b.png")
    noise(rng, 70, 70).convert("CMYK").save(folder / "c.jpg")
    noise(rng, 48, 64).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "d.png")
    noise(rng, 100, 120).save(folder / "e.jpg", quality=90)
    whole = (folder / "e.jpg").read_bytes()
    (folder / "e.jpg").write_bytes(whole[: len(whole) // 2])
    (folder / "f.jpg").write_text("not an image\n")
    noise(rng, 64, 96).save(folder / "g.jpg", quality=90)
    examples = [
        Example(id=key, text="", labels=("thing",), split=split, image=f"images/{name}")
        for key, (split, name) in IMAGES.items()
    ]
    processed = tmp_path / "processed"
    empty = [[]] * len(examples)
    write_examples(examples, empty, empty, processed / "examples.parquet", modality="image")
    return processed, raw


def test_layout_index_skips_and_reader(tmp_path, dataset, caplog):
    processed, raw = dataset
    out = tmp_path / "features"
    with caplog.at_level(logging.WARNING, logger="sgm_mlc.features.images"):
        meta = build_image_features(PARAMS, processed, raw, out)

    features = np.load(out / "features.npy", mmap_mode="r")
    assert isinstance(features, np.memmap)
    assert features.shape == (len(IMAGES), 4, 512) and features.dtype == np.float16  # 2×2 grid, 512 channels
    augmented = np.load(out / "augmented.npy", mmap_mode="r")
    assert augmented.shape == (4 * 2, 4, 512) and augmented.dtype == np.float16  # 4 train examples × 2 views

    # Skipped: counted, logged with their path, out of the index, rows left zero.
    assert meta["skipped"] == 2 and meta["images"] == 5 and meta["examples"] == 7
    assert {item["id"] for item in meta["skipped_images"]} == {"e", "f"}
    assert str(raw / "images" / "e.jpg") in caplog.text and str(raw / "images" / "f.jpg") in caplog.text
    assert not features[4].any() and not features[5].any() and not augmented[4:6].any()
    assert json.loads((out / "features.json").read_text()) == meta
    assert meta["grid"] == 2 and meta["channels"] == 512 and meta["splits"] == {"train": 3, "valid": 1, "test": 1}
    assert meta["images_per_second"] > 0 and meta["weights_sha256"] is None

    reader = ImageFeatures.open(out)
    assert reader.ids == READABLE and "e" not in reader and "f" not in reader and len(reader) == 5
    positions = list(IMAGES)
    for key in READABLE:
        np.testing.assert_array_equal(reader.grid(key), features[positions.index(key)])
        assert reader.grid(key).any()
    np.testing.assert_array_equal(reader.rows(["g", "a"]), np.stack([features[6], features[0]]))
    assert reader.split_ids("train") == READABLE_TRAIN
    with pytest.raises(KeyError):
        reader.grid("e")

    # Augmented views: of the readable train images only; unlike the base view and unlike each other.
    assert sorted(reader.augmented_index) == READABLE_TRAIN
    for key in READABLE_TRAIN:
        views = reader.views(key)
        assert views.shape == (2, 4, 512)
        assert not np.array_equal(views[0], reader.grid(key)) and not np.array_equal(views[0], views[1])
    np.testing.assert_array_equal(reader.views("g"), augmented[6:8])
    with pytest.raises(KeyError):
        reader.views("c")


def test_same_seed_same_bytes(tmp_path, dataset):
    processed, raw = dataset
    for name in ("one", "two"):
        build_image_features(PARAMS, processed, raw, tmp_path / name)
    for file in ("features.npy", "augmented.npy", "index.parquet", "augmented_index.parquet"):
        assert (tmp_path / "one" / file).read_bytes() == (tmp_path / "two" / file).read_bytes(), file


def test_random_weights_take_batch_norm_statistics_from_the_images():
    torch.manual_seed(13)
    trunk, _ = resnet_trunk(101, None)
    images = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        # BatchNorm at its initial mean 0 and variance 1 normalises nothing: activations grow block by block.
        assert trunk(images).abs().max() > 10_000
    assert calibrate_batch_norm(trunk, iter([images[:2], images[2:]])) == 4
    assert not trunk.training and all(
        layer.momentum == 0.1 for layer in trunk.modules() if isinstance(layer, torch.nn.BatchNorm2d)
    )
    with torch.no_grad():
        assert trunk(images).abs().max() < 100


def test_a_deep_random_network_at_224_px_fits_float16(tmp_path, dataset):
    # Without statistics from the images, ResNet-101's random features at 224 px overflow float16.
    processed, raw = dataset
    settings = PARAMS | {"depth": 101, "image_size": 224, "augment_views": 0}
    meta = build_image_features(settings, processed, raw, tmp_path / "out")
    assert meta["batch_norm_statistics"] == "running mean and variance over 64 images of Gaussian noise (seed)"
    grids = np.load(tmp_path / "out" / "features.npy")
    assert np.isfinite(grids).all() and np.abs(grids).max() > 0


def test_random_weights_are_one_extractor_whatever_the_dataset(tmp_path, dataset):
    # The BatchNorm statistics come from the seed, not from the images: another dataset's features of the same
    # image are equal (what a cross-dataset evaluation with weights: none relies on).
    processed, raw = dataset
    settings = PARAMS | {"augment_views": 0}
    build_image_features(settings, processed, raw, tmp_path / "all")
    two_images = [
        Example(id="a", text="", labels=("thing",), split="train", image="images/a.jpg"),
        Example(id="d", text="", labels=("thing",), split="test", image="images/d.png"),
    ]
    write_examples(two_images, [[]] * 2, [[]] * 2, tmp_path / "other" / "examples.parquet", modality="image")
    build_image_features(settings, tmp_path / "other", raw, tmp_path / "other-features")
    every, other = np.load(tmp_path / "all" / "features.npy"), np.load(tmp_path / "other-features" / "features.npy")
    np.testing.assert_allclose(other, every[[list(IMAGES).index("a"), list(IMAGES).index("d")]], rtol=1e-3)


def test_augmented_views_are_seeded_per_image_and_view(dataset):
    processed, raw = dataset
    paths = [raw / "images" / "a.jpg"]

    def crops(seed, image_id="a"):
        return ImageViews(paths, [image_id], [True], 64, 2, seed)[0][1]

    first, again, other = crops(3), crops(3), crops(4)
    assert first.shape == (3, 3, 64, 64)
    torch.testing.assert_close(first, again, rtol=0, atol=0)
    torch.testing.assert_close(first[0], other[0], rtol=0, atol=0)  # the base view is not random
    assert not torch.equal(first[1], other[1]) and not torch.equal(first[1], first[2])
    assert not torch.equal(first[1], crops(3, image_id="other")[1])  # the id is in the seed, not the position
    state = torch.get_rng_state()
    crops(3)
    assert torch.equal(state, torch.get_rng_state())  # the global generator is left as it was


def test_a_failure_leaves_no_output(tmp_path, dataset, monkeypatch):
    processed, raw = dataset
    calls = []
    real = image_features.to_float16

    def fail_on_second_batch(grids):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("boom")
        return real(grids)

    monkeypatch.setattr(image_features, "to_float16", fail_on_second_batch)
    out = tmp_path / "out" / "features"
    with pytest.raises(RuntimeError, match="boom"):
        build_image_features(PARAMS, processed, raw, out)
    assert not out.exists() and list((tmp_path / "out").iterdir()) == []

    out.mkdir()
    (out / "previous.txt").write_text("kept")
    calls.clear()
    with pytest.raises(RuntimeError, match="boom"):
        build_image_features(PARAMS, processed, raw, out)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["features"]
    assert [p.name for p in out.iterdir()] == ["previous.txt"]


def test_missing_imagenet_weights_stop_with_one_line(tmp_path, dataset, monkeypatch):
    processed, raw = dataset
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def no_network(*args, **kwargs):
        raise AssertionError("tried to download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    cache = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert cached_weights_path(18) == cache
    out = tmp_path / "features"
    params = dict(PARAMS, weights="imagenet")
    with pytest.raises(FileNotFoundError) as error:
        build_image_features(params, processed, raw, out)
    message = str(error.value)
    assert "\n" not in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message and str(cache) in message
    assert not out.exists()

    absent = tmp_path / "elsewhere.pth"
    with pytest.raises(FileNotFoundError, match="weights_path") as error:
        build_image_features(dict(params, weights_path=str(absent)), processed, raw, out)
    assert "\n" not in str(error.value) and str(absent) in str(error.value)

    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"not the official file")
    with pytest.raises(ValueError, match="does not start with f37072fd"):
        build_image_features(params, processed, raw, out)


def test_weights_path_loads_a_saved_state_dict(tmp_path, dataset):
    processed, raw = dataset
    torch.manual_seed(21)
    state_file = tmp_path / "my-resnet18.pt"
    torch.save(torchvision.models.resnet18().state_dict(), state_file)
    params = dict(PARAMS, augment_views=0)

    # The file decides the features, not the seed: they are its network applied to each image.
    with_file = dict(params, weights="imagenet", weights_path=str(state_file))
    loaded = build_image_features(dict(with_file, seed=5), processed, raw, tmp_path / "loaded")
    build_image_features(dict(with_file, seed=7), processed, raw, tmp_path / "again")
    loaded_bytes = (tmp_path / "loaded" / "features.npy").read_bytes()
    assert loaded_bytes == (tmp_path / "again" / "features.npy").read_bytes()
    trunk, _ = resnet_trunk(18, state_file)
    with torch.no_grad():
        expected = trunk(base_transform(64)(read_rgb(raw / "images" / "a.jpg"))[None])
    row = np.load(tmp_path / "loaded" / "features.npy")[list(IMAGES).index("a")]
    np.testing.assert_allclose(row, to_float16(expected)[0], rtol=1e-2, atol=1e-3)
    assert loaded["weights"] == "imagenet" and loaded["weights_file"] == str(state_file)
    assert loaded["weights_sha256"] == hashlib.sha256(state_file.read_bytes()).hexdigest()
    assert not (tmp_path / "loaded" / "augmented.npy").exists()

    wrong = tmp_path / "wrong.pt"
    torch.save({"conv1.weight": torch.zeros(1)}, wrong)
    with pytest.raises(ValueError, match="not a ResNet-18 state dict"):
        build_image_features(dict(params, weights="imagenet", weights_path=str(wrong)), processed, raw, tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_autocast_choice_and_bf16_path_on_cpu(tmp_path, dataset):
    cpu = torch.device("cpu")
    if not torch.cuda.is_available():
        assert select_device("auto") == cpu
    assert not uses_bf16(cpu, "auto") and not uses_bf16(cpu, "fp32") and uses_bf16(cpu, "bf16")
    layer = torch.nn.Conv2d(3, 4, 3)
    with torch.inference_mode():
        with autocast(cpu, True):
            assert layer(torch.zeros(1, 3, 8, 8)).dtype == torch.bfloat16
        with autocast(cpu, False):
            assert layer(torch.zeros(1, 3, 8, 8)).dtype == torch.float32

    processed, raw = dataset
    params = dict(PARAMS, augment_views=0)
    meta = build_image_features(dict(params, precision="bf16"), processed, raw, tmp_path / "bf16")
    build_image_features(params, processed, raw, tmp_path / "fp32")
    assert meta["precision"] == "bf16" and meta["device"] == "cpu"
    low = np.load(tmp_path / "bf16" / "features.npy").astype(np.float32)
    full = np.load(tmp_path / "fp32" / "features.npy").astype(np.float32)
    assert not np.array_equal(low, full)
    np.testing.assert_allclose(low, full, rtol=0.1, atol=0.1 * np.abs(full).max())


def test_truncated_files_fail_even_when_pil_is_told_to_accept_them(dataset, monkeypatch):
    _, raw = dataset
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(OSError, match="truncated"):
        read_rgb(raw / "images" / "e.jpg")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True
    assert read_rgb(raw / "images" / "c.jpg").mode == "RGB"  # CMYK
    assert read_rgb(raw / "images" / "b.png").mode == "RGB"  # grayscale


def test_bad_settings_and_missing_files_are_clear(tmp_path, dataset):
    validate_sections({"image_features": PARAMS})
    for bad, pattern in [
        ({"depht": 18}, "image_features: unknown key\\(s\\) 'depht'"),
        ({"depth": 20}, "image_features.depth: 20 is not allowed; allowed values: 18, 34, 50, 101, 152"),
        ({"image_size": 100}, "image_features.image_size: 100 is not a multiple of 32"),
        ({"augment_views": -1}, "image_features.augment_views: -1 is less than the minimum of 0"),
        ({"weights": "none", "weights_path": "x.pth"}, "image_features.weights_path: 'x.pth' should be of type null"),
        ({"precision": "fp16"}, "image_features.precision: 'fp16' is not allowed"),
    ]:
        with pytest.raises(ParamsError, match=pattern):
            validate_sections({"image_features": PARAMS | bad})
    processed, raw = dataset
    (raw / "images" / "a.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="1 of 7 images .* missing"):
        build_image_features(PARAMS, processed, raw, tmp_path / "features")
    assert not (tmp_path / "features").exists()
