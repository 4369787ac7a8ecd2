"""The `folder` dataset on folders the tests write: PNG and JPEG, nested, with class sub-folders,
off-square sizes, a broken JPEG and files that are not images; and training on it through the
CLI."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from disentangle.contracts import check_dataset, check_image_data
from disentangle.errors import DisentangleError
from tests.conftest import run_cli

RED, BLUE = (220, 20, 20), (20, 20, 220)


def picture(path: Path, colour, size=(40, 20), border=(0, 200, 0)) -> None:
    """`colour` in the centre square, `border` in the margins a centre crop must cut away."""
    width, height = size
    side = min(width, height)
    image = Image.new("RGB", size, border)
    left, top = (width - side) // 2, (height - side) // 2
    image.paste(Image.new("RGB", (side, side), colour), (left, top))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=100) if path.suffix != ".png" else image.save(path)


def broken_jpeg(path: Path) -> None:
    picture(path, RED)
    path.write_bytes(path.read_bytes()[:200])  # cut short mid-scan


@pytest.fixture
def pets(tmp_path) -> Path:
    """cat/ (red, 6 PNG + 6 JPEG, one nested deeper) and dog/ (blue, 8) plus one broken JPEG, a
    text file and a hidden folder."""
    root = tmp_path / "pets"
    for i in range(6):
        picture(root / "cat" / f"c{i}.png", RED, size=(40, 20))
        picture(root / "cat" / "more" / f"c{i}.JPG", RED, size=(30, 50))
    for i in range(8):
        picture(root / "dog" / f"d{i}.jpeg", BLUE, size=(24, 24))
    broken_jpeg(root / "dog" / "broken.jpg")
    (root / "dog" / "notes.txt").write_text("not an image")
    picture(root / ".hidden" / "skip.png", RED)
    return root


def create(registry, size=None):
    return registry.create("datasets", "folder", image_size=size)


def test_classes_crops_and_split(registry, pets, caplog):
    dataset = create(registry, 16)
    with caplog.at_level(logging.WARNING, logger="disentangle.data"):
        train, test = dataset.load("train", pets), dataset.load("test", pets)
    assert dataset.class_names == ("cat", "dog")
    check_image_data(dataset, train)
    assert (len(train), len(test)) == (18, 2)  # 20 readable images, 10 % held out
    images = np.concatenate([train.images.numpy(), test.images.numpy()])
    labels = np.concatenate([train.labels.numpy(), test.labels.numpy()])
    assert images.shape[1:] == (3, 16, 16) and np.bincount(labels).tolist() == [12, 8]
    # the centre square is all that is left: no green margin, red cats, blue dogs
    means = images.reshape(20, 3, -1).mean(2)
    assert np.all(means[:, 1] < 40)
    assert np.all((means[:, 0] > 180) == (labels == 0))
    assert np.all((means[:, 2] > 180) == (labels == 1))
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2, lines
    assert lines[0].startswith(str(pets / "dog" / "broken.jpg")) and "skipped" in lines[0]
    assert lines[1] == f"folder: 1 of 21 images in {pets} could not be read and were skipped"


def test_images_at_the_top_mean_no_labels_and_a_warm_cache(registry, tmp_path, caplog):
    root = tmp_path / "flat"
    for i in range(5):
        picture(root / f"{i}.png", RED, size=(20, 20))
        picture(root / "sub" / f"{i}.jpg", BLUE, size=(20, 20))
    dataset = create(registry)
    first = dataset.load("train", root)
    assert first.labels is None and dataset.class_names == ()
    assert first.images.shape[1:] == (3, 32, 32)
    caches = list((root / ".cache").glob("folder-*-32px.h5"))
    assert len(caches) == 1
    stamp = caches[0].stat().st_mtime_ns
    assert np.array_equal(dataset.load("train", root).images, first.images)
    assert caches[0].stat().st_mtime_ns == stamp  # read back, not converted again
    picture(root / "new.png", BLUE, size=(20, 20))  # a new picture: converted again
    assert len(dataset.load("train", root)) + len(dataset.load("test", root)) == 11


@pytest.mark.parametrize("setup, message", [
    (lambda root: root.mkdir(), "folder: no PNG or JPEG images in {root} (searched recursively)"),
    (lambda root: (root.mkdir(), (root / "a.txt").write_text("x")), "no PNG or JPEG images in"),
    (lambda root: broken_jpeg(root / "only.jpg"), "none of the 1 images in {root} could be read"),
    (lambda root: None, "folder: {root} is not a directory"),
])
def test_nothing_to_load_is_one_clear_error(registry, tmp_path, setup, message):
    root = tmp_path / "imgs"
    setup(root)
    with pytest.raises(DisentangleError, match=None) as info:
        create(registry).load("train", root)
    assert message.format(root=root) in str(info.value)
    assert not (root / ".cache").exists() or not any((root / ".cache").glob("*.h5"))


def test_one_image_has_no_test_split(registry, tmp_path):
    picture(tmp_path / "one" / "a.png", RED)
    dataset = create(registry)
    assert len(dataset.load("train", tmp_path / "one")) == 1
    with pytest.raises(DisentangleError, match="the test split of .* is empty"):
        dataset.load("test", tmp_path / "one")


def test_without_a_data_dir_says_to_give_one(registry):
    with pytest.raises(DisentangleError, match="reads the images under --data-dir DIR"):
        create(registry).load("train")


def test_bad_image_size(registry):
    with pytest.raises(DisentangleError, match="--image-size must be a whole number of at least 4"):
        create(registry, 2)


def test_contract(registry):
    check_dataset("folder", registry)


def test_trains_through_the_cli_with_a_broken_jpeg(pets, tmp_path):
    out = tmp_path / "run"
    done = run_cli("run", "infogan", "--dataset", "folder", "--data-dir", pets, "--image-size",
                   "32", "--backbone", "tiny", "--code", "categorical:2", "--steps", "3",
                   "--batch-size", "8", "--quiet", "--out", out, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"{pets / 'dog' / 'broken.jpg'}: not a readable image" in done.stderr
    assert "folder: 1 of 21 images" in done.stderr
    assert (out / "checkpoints" / "latest.pt").is_file()
    done = run_cli("run", "infogan", "--dataset", "folder", "--steps", "1", "--quiet",
                   "--out", tmp_path / "run2", env={"DISENTANGLE_DATA_DIR": ""})
    assert done.returncode != 0
    assert done.stderr.strip() == ("error: dataset 'folder' reads the images under --data-dir "
                                   "DIR (data_dir= in Python); give the folder that holds them")
    assert not (tmp_path / "run2").exists()  # refused before a run directory was made


def test_the_first_conversion_counts_the_files_on_stderr_unless_quiet(pets, tmp_path, capsys):
    from tests.training.test_cli_run import cli

    args = ["run", "infogan", "--dataset", "folder", "--data-dir", pets, "--image-size", "16",
            "--backbone", "tiny", "--code", "categorical:2", "--steps", "1", "--batch-size", "8"]
    code, _, err = cli(capsys, *args, "--quiet", "--out", tmp_path / "quiet")
    assert code == 0 and "folder: reading" not in err
    code, _, err = cli(capsys, *args, "--image-size", "20", "--out", tmp_path / "shown")
    assert code == 0
    assert re.search(r"folder: reading .*21/21", err), err  # a new size: converted again


def test_sixteen_bit_grey_pngs_keep_their_greys(registry, tmp_path):
    """Pillow's RGB conversion clipped 16-bit values at 255: mid-grey came out white."""
    root = tmp_path / "wide"
    root.mkdir()
    for value in (0, 256 * 64, 256 * 128, 65535):
        Image.fromarray(np.full((8, 8), value, np.uint16)).save(root / f"g{value:05d}.png")
    dataset = create(registry, 8)
    images = np.concatenate([dataset.load(s, root).images.numpy() for s in ("train", "test")])
    assert sorted(images.reshape(4, -1).max(1).tolist()) == [0, 64, 128, 255]
    assert all(np.unique(image).size == 1 for image in images)  # one grey, in all channels


def test_linked_class_folders_are_followed_once(registry, pets, tmp_path, caplog):
    """os.walk skipped links to folders: linked classes vanished (torchvision follows them)."""
    root = tmp_path / "linked"
    root.mkdir()
    for name in ("cat", "dog"):
        (root / name).symlink_to(pets / name, target_is_directory=True)
    (root / "cat" / "more" / "up").symlink_to(root, target_is_directory=True)  # a loop
    (root / "dog" / "gone.png").symlink_to(tmp_path / "nowhere.png")  # a link to nothing
    dataset = create(registry, 16)
    with caplog.at_level(logging.WARNING, logger="disentangle.data"):
        train, test = dataset.load("train", root), dataset.load("test", root)
    assert dataset.class_names == ("cat", "dog") and len(train) + len(test) == 20
    assert any("gone.png: not a readable image" in r.getMessage() for r in caplog.records)


def test_training_on_classes_logs_the_held_out_score(pets, tmp_path):
    """The monitor asked for class names before loading, which `folder` knows only after."""
    out = tmp_path / "run"
    done = run_cli("run", "infogan", "--dataset", "folder", "--data-dir", pets, "--image-size",
                   "16", "--backbone", "tiny", "--code", "categorical:2", "--steps", "2",
                   "--batch-size", "8", "--score-every", "2", "--quiet", "--out", out)
    assert done.returncode == 0, done.stderr
    last = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert 0.5 <= last["heldout/cluster_accuracy"] <= 1  # 2 test images, 2 clusters


def test_the_split_is_by_each_paths_hash_and_stays_put_as_the_folder_grows(registry, tmp_path):
    """A seeded permutation of positions moved most test images into train when one file that
    sorts first was added: a run evaluated then was scored on images it trained on."""
    import hashlib

    root = tmp_path / "grow"
    root.mkdir()

    def add(values):
        for v in values:
            Image.fromarray(np.full((4, 4), v, np.uint8)).save(root / f"{v:03d}.png")

    def split_values():
        dataset = create(registry, 4)
        return {s: set(dataset.load(s, root).images[:, 0, 0, 0].tolist())
                for s in ("train", "test")}

    add(range(10, 60))  # 50 images: 5 in test
    before = split_values()
    lowest = sorted(range(10, 60), key=lambda v: hashlib.sha256(f"{v:03d}.png".encode()).digest())
    assert before["test"] == set(lowest[:5])
    add(range(0, 10))  # 10 more, all sorting first: 6 in test
    after = split_values()
    assert len(after["test"]) == 6
    assert len(before["train"] & after["test"]) <= 1  # only the test split's one new place


def test_a_photo_stored_sideways_is_read_upright(registry, tmp_path):
    """EXIF orientation 6 (rotate 90° clockwise to view), as phones write portrait photos: the
    centre crop of the stored landscape pixels cut the wrong square."""
    root = tmp_path / "phone"
    root.mkdir()
    stored = Image.new("RGB", (40, 20), (0, 0, 0))
    stored.paste(Image.new("RGB", (20, 20), RED), (0, 0))  # left half red as stored
    stored.paste(Image.new("RGB", (20, 20), BLUE), (20, 0))
    exif = Image.Exif()
    exif[0x0112] = 6
    for i in range(2):
        stored.save(root / f"p{i}.jpg", quality=100, exif=exif)
    images = create(registry, 8).load("train", root).images.numpy()
    # viewed upright it is 20 wide, 40 tall: the red half on top, the blue below; the centre
    # square straddles both, where the stored image's centre square was half red, half blue
    # side by side
    upright = images[0].astype(int)
    assert upright[0, 0].mean() > 150 and upright[2, 0].mean() < 80  # top row red
    assert upright[2, -1].mean() > 150 and upright[0, -1].mean() < 80  # bottom row blue
