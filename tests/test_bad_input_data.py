"""Careless and hostile input to the data modules (downloads, readers, datasets, text, images): every attempt gets the
right answer or one clear error that names the file or argument, the problem and the fix, and nothing already written
is lost. Synthetic files in tmp_path only; the whole file runs in a few seconds on one CPU core.

`CASES` at the end is the sweep: one row per attempt, each either `Right(check)` (the call must return something that
passes `check`) or `Refused(error, *needles)` (the call must raise `error` with every needle in its message).
`python tests/test_bad_input_data.py` counts the outcomes for the ftkit on the path (right result, clear error, bad
error, silent wrong, data lost), which is how an earlier ftkit is compared with this one."""
import gzip
import hashlib
import io
import os
import pickle
import tarfile
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from ftkit import datasets, downloads, images, readers, text
from ftkit.datasets import Dataset, ImageSplit, cross_validation, encode_labels, load_dataset
from ftkit.downloads import ChecksumError, RemoteFile, check_file, download_file, fetch_file
from ftkit.images import ImageTransform, image_dataset_from_arrays, image_dataset_from_folder
from ftkit.text import text_dataloader, text_dataset, text_dataset_from_files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class _Tokenizer:
    "A stand-in for a Hugging Face tokenizer: [CLS]=1, one id per word, [SEP]=2; pad id 0."
    pad_token_id = 0

    def num_special_tokens_to_add(self):
        return 2

    def __call__(self, texts, truncation=True, max_length=128):
        return {"input_ids": [[1] + [3 + len(w) for w in t.split()][:max_length - 2] + [2] for t in texts]}


def _frame(texts=("a b", "c", "d e f", "g"), labels=(0, 1, 0, 1)) -> pd.DataFrame:
    return pd.DataFrame({"text": list(texts), "label": list(labels)})


def _png(path: Path, size=(6, 5), colour=(200, 10, 10), exif_orientation=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.new("RGB", size, colour)
    if exif_orientation is None:
        image.save(path)
    else:
        exif = Image.Exif()
        exif[0x0112] = exif_orientation  # the EXIF Orientation tag
        image.save(path, exif=exif)
    return path


def _image_tree(root: Path, splits=("train",), classes=("cat", "dog"), per_class=2):
    for split in splits:
        for name in classes:
            for i in range(per_class):
                _png(root / split / name / f"{i}.png", colour=(40 * i, 90, 200 if name == "dog" else 0))
    return root


# ---------------------------------------------------------------- one file per class: which file is which class
def test_class_from_the_suffix_when_files_share_a_stem(tmp_path):
    "SentEval's layout (data.pos, data.neg) is two classes, not one class 'data' holding the last file's rows."
    (tmp_path / "data.pos").write_text("a joy\nsharp and funny\n")
    (tmp_path / "data.neg").write_text("a mess\n")
    dataset = text_dataset_from_files(tmp_path)
    assert dataset.classes == ["neg", "pos"] and len(dataset.train) == 3
    assert sorted(dataset.train.text) == ["a joy", "a mess", "sharp and funny"]


def test_senteval_folder_with_its_readme(tmp_path):
    for name, lines in (("rt-polarity.pos", "good\nfine\n"), ("rt-polarity.neg", "bad\n"),
                        ("rt-polaritydata.README.1.0.txt", "about the data\n")):
        (tmp_path / name).write_text(lines)
    with pytest.warns(UserWarning, match=r"skipped .*rt-polaritydata.README.1.0.txt"):
        dataset = text_dataset_from_files(tmp_path)
    assert dataset.classes == ["neg", "pos"] and len(dataset.train) == 3


def test_two_files_of_one_class_are_refused(tmp_path):
    for name in ("pos.txt", "pos.csv", "neg.txt"):
        (tmp_path / name).write_text("some text\n")
    with pytest.raises(ValueError) as error:
        text_dataset_from_files(tmp_path)
    assert all(s in str(error.value) for s in ("pos.csv", "pos.txt", "class 'pos'", "dict"))


def test_several_files_into_one_class_when_asked_for(tmp_path):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tmp_path / name).write_text(f"text of {name}\n")
    dataset = text_dataset_from_files({"pos": [tmp_path / "a.txt", tmp_path / "b.txt"], "neg": tmp_path / "c.txt"})
    assert dataset.classes == ["neg", "pos"] and dataset.train.label.tolist() == [1, 1, 0]


def test_readme_is_skipped_with_a_note(tmp_path):
    for name in ("pos.txt", "neg.txt", "README.md"):
        (tmp_path / name).write_text("some text\n")
    with pytest.warns(UserWarning, match="README.md"):
        assert text_dataset_from_files(tmp_path).classes == ["neg", "pos"]


def test_subfolders_are_refused_not_ignored(tmp_path):
    for name in ("pos.txt", "neg.txt", "old/pos.txt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("some text\n")
    with pytest.raises(ValueError, match=r"sub-folders \['old'\].*pass the folder that holds the class files"):
        text_dataset_from_files(tmp_path)


def test_suffix_rule_refuses_a_file_type_as_a_class(tmp_path):
    for name in ("data.pos", "data.neg", "data.txt"):
        (tmp_path / name).write_text("some text\n")
    with pytest.raises(ValueError, match=r"'txt' is a file type"):
        text_dataset_from_files(tmp_path)


# ---------------------------------------------------------------- CSV files
def test_unquoted_comma_is_refused_with_the_line(tmp_path):
    "pandas made the first column the index: 'hello, world,1' became the text 'world'."
    (tmp_path / "t.csv").write_text("text,label\nhello, world,1\nbye now, friend,0\n")
    with pytest.raises(ValueError) as error:
        text_dataset(tmp_path / "t.csv")
    assert all(s in str(error.value) for s in ("t.csv", "line 2 has 3 fields", "header has 2", "quote"))


def test_quoted_commas_are_read_whole(tmp_path):
    pd.DataFrame({"text": ["hello, world", "bye now, friend"], "label": [1, 0]}).to_csv(tmp_path / "t.csv", index=False)
    assert text_dataset(tmp_path / "t.csv").train.text.tolist() == ["hello, world", "bye now, friend"]


def test_one_ragged_row_names_its_line_and_field_count(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nfine,1\n\nalso fine,0\nnot, fine,1\nok,0\n")
    with pytest.raises(ValueError, match=r"t.csv line 5 has 3 fields, the header has 2"):
        text_dataset(tmp_path / "t.csv")
    (tmp_path / "short.csv").write_text("text,label\nfine,1\nno label\n")
    with pytest.raises(ValueError, match=r"short.csv line 3 has 1 field, the header has 2"):
        text_dataset(tmp_path / "short.csv")


def test_csv_with_a_byte_order_mark(tmp_path):
    (tmp_path / "t.csv").write_bytes("text,label\nhello,a\nbye,b\n".encode("utf-8-sig"))
    assert text_dataset(tmp_path / "t.csv").train.text.tolist() == ["hello", "bye"]


# ---------------------------------------------------------------- labels
def test_labels_differing_by_spaces_are_one_class():
    dataset = text_dataset(_frame(labels=(" pos", "pos", "neg ", "neg")))
    assert dataset.classes == ["neg", "pos"] and dataset.train.label.tolist() == [1, 1, 0, 0]


@pytest.mark.parametrize("make", [
    lambda tmp: text_dataset(_frame(labels=("pos",) * 4)),
    lambda tmp: image_dataset_from_arrays(np.zeros((3, 4, 4), np.uint8), [7, 7, 7]),
    lambda tmp: image_dataset_from_folder(_image_tree(tmp / "imgs", splits=(".",), classes=("cat",))),
], ids=["text", "arrays", "folder"])
def test_one_class_is_refused(make, tmp_path):
    with pytest.raises(ValueError, match="at least 2 classes"):
        make(tmp_path)


# ---------------------------------------------------------------- image folders
def test_split_folders_in_any_common_spelling(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=("Train", "validation", "Test"))
    dataset = image_dataset_from_folder(root)
    assert {k: len(v) for k, v in dataset.splits().items()} == {"train": 4, "valid": 4, "test": 4}


def test_unknown_folder_beside_train_is_refused(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=("train", "test", "extra"))
    with pytest.raises(ValueError, match=r"extra.*train, valid \(or val, validation\), test"):
        image_dataset_from_folder(root)


def test_two_validation_folders_are_refused(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=("train", "val", "valid"))
    with pytest.raises(ValueError, match=r"both.*valid"):
        image_dataset_from_folder(root)


def test_split_folders_without_train_are_refused(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=(".",), classes=("cat", "test"))
    with pytest.raises(ValueError, match="no train"):
        image_dataset_from_folder(root)


def test_nested_folder_in_a_class_is_refused(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=(".",))
    _png(root / "cat" / "2019" / "0.png")
    with pytest.raises(ValueError, match=r"cat has sub-folders \['2019'\]"):
        image_dataset_from_folder(root)


def test_unsupported_channel_count_is_refused(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=(".",))
    with pytest.raises(ValueError, match=r"channels must be 1 \(grayscale\) or 3 \(RGB\), got 4"):
        image_dataset_from_folder(root, channels=4)


def test_exif_orientation_is_applied(tmp_path):
    _png(tmp_path / "imgs" / "a" / "0.png", size=(12, 10), exif_orientation=6)  # stored landscape, shown portrait
    _png(tmp_path / "imgs" / "b" / "0.png", size=(10, 12))
    dataset = image_dataset_from_folder(tmp_path / "imgs")
    assert dataset.train.images.shape == (2, 3, 12, 10)  # both portrait: height 12, width 10


def test_unreadable_image_names_the_file(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=(".",))
    raw = (root / "cat" / "0.png").read_bytes()
    (root / "cat" / "1.png").write_bytes(raw[: len(raw) // 2])  # cut short
    (root / "dog" / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"cat/1.png.*cannot be read as an image"):
        image_dataset_from_folder(root)


def test_non_image_files_are_skipped_with_a_note(tmp_path):
    root = _image_tree(tmp_path / "imgs", splits=(".",))
    (root / "dog" / "Thumbs.db").write_bytes(b"\0" * 10)
    with pytest.warns(UserWarning, match=r"skipped 1 file.*Thumbs.db"):
        assert len(image_dataset_from_folder(root).train) == 4


# ---------------------------------------------------------------- the verified-file seal and downloads
def test_seal_notices_a_change_that_keeps_size_and_time_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    remote = RemoteFile("hello.txt", None, _sha(b"hello\n"), 6)
    check_file(path, remote)  # hashed and sealed
    before = path.stat()
    path.write_bytes(b"jello\n")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and time stamp as they were
    assert (path.stat().st_size, path.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(ChecksumError, match="right size but not the right content"):
        check_file(path, remote)


def test_seal_that_cannot_be_written_still_checks(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file, not a folder")
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "hello.txt"
    path.write_bytes(b"hello\n")
    assert check_file(path, RemoteFile("hello.txt", None, _sha(b"hello\n"), 6)) == path
    with pytest.raises(ChecksumError):
        check_file(path, RemoteFile("hello.txt", None, _sha(b"jello\n"), 6))


def _served(tmp_path, data=b"hello\n"):
    source = tmp_path / "served" / "hello.txt"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(data)
    return source


def test_part_left_by_a_killed_download_goes_on_the_next_attempt(tmp_path):
    "kill -9 leaves a .part nobody holds; a rerun within a minute used to keep it (too young to look stale) forever."
    source, dest = _served(tmp_path), tmp_path / "data" / "hello.txt"
    dest.parent.mkdir()
    stale = dest.parent / ".hello.txt.k1ll3d.part"
    stale.write_bytes(b"hel")  # written just now by a process that no longer exists
    download_file(source.as_uri(), dest, _sha(b"hello\n"), progress=False)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["hello.txt"]


def test_part_of_a_live_download_is_kept(tmp_path):
    fcntl = pytest.importorskip("fcntl")
    source, dest = _served(tmp_path), tmp_path / "data" / "hello.txt"
    dest.parent.mkdir()
    live = dest.parent / ".hello.txt.l1v3.part"
    with open(live, "wb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as a download in progress holds it
        os.utime(live, (time.time() - 3600,) * 2)  # slow: nothing arrived for an hour, and it is still alive
        download_file(source.as_uri(), dest, _sha(b"hello\n"), progress=False)
        assert live.exists()
    assert dest.read_bytes() == b"hello\n"


def test_part_beside_a_file_put_there_by_hand_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("FTKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    (tmp_path / "data" / "set").mkdir(parents=True)
    (tmp_path / "data" / "set" / "hello.txt").write_bytes(b"hello\n")
    (tmp_path / "data" / "set" / ".hello.txt.0ld.part").write_bytes(b"he")
    fetch_file(RemoteFile("hello.txt", None, _sha(b"hello\n"), 6), "set")
    assert sorted(p.name for p in (tmp_path / "data" / "set").iterdir()) == ["hello.txt"]


def test_data_folder_that_is_a_file(tmp_path, monkeypatch):
    "A download used to go under the file and fail as 'could not be downloaded ([Errno 20] Not a directory)'."
    (tmp_path / "data").write_text("oops")
    monkeypatch.setenv("FTKIT_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(NotADirectoryError, match=r"FTKIT_DATA=.*data is a file: point FTKIT_DATA at a folder"):
        fetch_file(RemoteFile("hello.txt", _served(tmp_path).as_uri(), _sha(b"hello\n")), "set")


def test_cache_folder_that_is_a_file(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("oops")
    monkeypatch.delenv("FTKIT_DATA", raising=False)
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(OSError, match="point FTKIT_CACHE at a writable folder"):
        fetch_file(RemoteFile("hello.txt", _served(tmp_path).as_uri(), _sha(b"hello\n")), "set")


# ---------------------------------------------------------------- folds, loaders
def test_cross_validation_checks_num_folds_before_any_work():
    with pytest.raises(ValueError, match=r"num_folds must be >= 2"):
        cross_validation("digits", num_folds=1)
    with pytest.raises(ValueError, match=r"num_folds=1000.*smallest class .* has 174"):
        cross_validation("digits", num_folds=1000)
    with pytest.raises(ValueError, match="official train/test split"):
        cross_validation("mnist")  # eager: no need to start iterating
    assert len(list(cross_validation("digits", num_folds=3))) == 3


def test_string_labels_in_a_loader_are_refused_clearly():
    with pytest.raises(ValueError, match=r"labels must be class indices .*'pos'.*text_dataset"):
        text_dataloader(_frame(labels=("pos", "neg", "pos", "neg")), _Tokenizer())


def test_text_loader_still_works():
    loader = text_dataloader(_frame(), _Tokenizer(), batch_size=2, shuffle=True)
    assert sorted(int(label) for *_, labels in loader for label in labels) == [0, 0, 1, 1]


# ---------------------------------------------------------------- the sweep
@dataclass
class Right:
    check: Callable = lambda result: True  # the returned value is right


@dataclass
class Refused:
    error: type
    needles: tuple

    def __init__(self, error, *needles):
        self.error, self.needles = error, needles


@dataclass
class Case:
    name: str
    run: Callable       # tmp_path -> result
    expect: object      # Right or Refused
    lost: Callable | None = None  # tmp_path -> True if something already written was lost


def _write(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def _gz(path: Path, data: bytes) -> Path:
    return _write(path, gzip.compress(data))


def _idx(values: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, values.ndim]) + b"".join(n.to_bytes(4, "big") for n in values.shape) + values.tobytes()


def _tar(path: Path, members: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as archive:
        for name, obj in members.items():
            raw = pickle.dumps(obj, protocol=2)
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
    return path


def _text_set(**kwargs) -> Dataset:
    return text_dataset(_frame(), **kwargs)


def _image_set() -> Dataset:
    return image_dataset_from_arrays(np.zeros((4, 5, 5), np.uint8), [0, 1, 0, 1])


_HELLO = RemoteFile("hello.txt", None, _sha(b"hello\n"), 6)
_TRANSFORM = ImageTransform((4, 4), (0.5,), (0.25,), channels=1)


def _refetch_with_stale_seal(tmp):
    "Seal a file, change a byte with size and mtime restored, check again: must be refused."
    path = _write(tmp / "hello.txt", b"hello\n")
    check_file(path, _HELLO)
    stat = path.stat()
    path.write_bytes(b"jello\n")
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    return check_file(path, _HELLO)


def _download_over_existing(tmp):
    "A download with the wrong digest must leave the good file already there untouched."
    _write(tmp / "data" / "hello.txt", b"hello\n")
    source = _write(tmp / "served" / "hello.txt", b"HELLO\n")
    return download_file(source.as_uri(), tmp / "data" / "hello.txt", _sha(b"hello\n"), progress=False)


def _download_beside_stale_part(tmp):
    "A .part nobody holds (what kill -9 leaves), written just now: the next download removes it."
    _write(tmp / "data" / ".hello.txt.k1ll3d.part", b"hel")
    download_file(_served(tmp).as_uri(), tmp / "data" / "hello.txt", _HELLO.sha256, progress=False)
    return sorted(p.name for p in (tmp / "data").iterdir())


def _download_beside_live_part(tmp):
    "A .part held (locked) by a slow download in progress, unchanged for an hour, must survive another download."
    fcntl = pytest.importorskip("fcntl")
    with open(_write(tmp / "data" / ".hello.txt.l1v3.part", b"hel"), "rb+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        os.utime(handle.name, (os.path.getmtime(handle.name) - 3600,) * 2)  # a stalled server: no byte for an hour
        return download_file(_served(tmp).as_uri(), tmp / "data" / "hello.txt", _HELLO.sha256, progress=False)


def _fetch_with_data_folder_a_file(tmp):
    _write(tmp / "ftkit-data", "a file")
    return fetch_file(RemoteFile("hello.txt", _served(tmp).as_uri(), _HELLO.sha256), "set", progress=False)


CASES = [
    # downloads
    Case("RemoteFile sha256 not hex", lambda t: RemoteFile("a.txt", None, "abc"), Refused(ValueError, "sha256", "64")),
    Case("RemoteFile upper-case sha256", lambda t: RemoteFile("a.txt", None, _HELLO.sha256.upper()).sha256,
         Right(lambda s: s == _HELLO.sha256)),
    Case("RemoteFile filename with a path", lambda t: RemoteFile("../../etc/x", None, _HELLO.sha256),
         Refused(ValueError, "filename", "../../etc/x", "plain file name")),
    Case("RemoteFile negative size", lambda t: RemoteFile("a.txt", None, _HELLO.sha256, -1), Refused(ValueError, "size", "-1")),
    Case("fetch_file subfolder escapes", lambda t: fetch_file(_HELLO, "../outside"),
         Refused(ValueError, "subfolder", "../outside")),
    Case("fetch_file given a file name", lambda t: fetch_file("hello.txt", "set"), Refused(TypeError, "RemoteFile", "str")),
    Case("download_file bad sha256", lambda t: download_file(_served(t).as_uri(), t / "d" / "h.txt", "xyz", progress=False),
         Refused(ValueError, "sha256", "xyz")),
    Case("download_file timeout 0", lambda t: download_file(_served(t).as_uri(), t / "d" / "h.txt", None, False, timeout=0),
         Refused(ValueError, "timeout", "0")),
    Case("download_file dest is a folder", lambda t: download_file(_served(t).as_uri(), t, None, progress=False),
         Refused(IsADirectoryError, "is a folder", "file's path")),
    Case("download_file dest under a file", lambda t: download_file(_served(t).as_uri(), _served(t) / "x.txt", None, progress=False),
         Refused(NotADirectoryError, "hello.txt", "is a file")),
    Case("download_file wrong digest keeps the old file", _download_over_existing, Refused(ChecksumError, "SHA-256 mismatch"),
         lost=lambda t: (t / "data" / "hello.txt").read_bytes() != b"hello\n"),
    Case("check_file same size and mtime", _refetch_with_stale_seal, Refused(ChecksumError, "hello.txt", "not the right content")),
    Case("verify_files given one RemoteFile", lambda t: downloads.verify_files(_HELLO, "set"),
         Refused(TypeError, "list of RemoteFile")),
    Case("sha256_of a folder", lambda t: downloads.sha256_of(t), Refused(IsADirectoryError, "Is a directory")),
    Case("stale .part from a killed download", _download_beside_stale_part, Right(lambda names: names == ["hello.txt"])),
    Case("live .part of another download", _download_beside_live_part, Right(),
         lost=lambda t: not (t / "data" / ".hello.txt.l1v3.part").exists()),
    Case("seal cannot be written", lambda t: (_write(t / "ftkit-cache", "a file"), check_file(_write(t / "h.txt", b"hello\n"), _HELLO))[-1],
         Right(lambda path: path.name == "h.txt")),
    Case("FTKIT_DATA is a file", _fetch_with_data_folder_a_file, Refused(NotADirectoryError, "FTKIT_DATA", "is a file")),
    Case("check_file given a file name", lambda t: check_file(_write(t / "h.txt", b"hello\n"), "hello.txt"),
         Refused(TypeError, "RemoteFile", "str")),
    Case("download_folder subfolder escapes", lambda t: downloads.download_folder("../../x"), Refused(ValueError, "subfolder", "../../x")),
    Case("check_file missing file", lambda t: check_file(t / "gone.txt", _HELLO), Refused(FileNotFoundError, "gone.txt")),
    # readers
    Case("read_lines cp1252 as utf-8", lambda t: readers.read_lines(_write(t / "mr.txt", b"ok\nhmm\x85might\n")),
         Refused(ValueError, "mr.txt", "line 2", "encoding=")),
    Case("read_lines BOM", lambda t: readers.read_lines(_write(t / "b.txt", "\ufeffNUM:x a\n".encode())),
         Right(lambda lines: lines == ["NUM:x a"])),
    Case("read_labelled_lines line number after blank lines",
         lambda t: readers.read_labelled_lines(_write(t / "q.label", "A x\n\n\nnolabel\n")),
         Refused(ValueError, "q.label", "line 4")),
    Case("read_labelled_lines empty sep", lambda t: readers.read_labelled_lines(_write(t / "q.label", "A x\n"), sep=""),
         Refused(ValueError, "sep=''")),
    Case("read_class_files no classes", lambda t: readers.read_class_files({}), Refused(ValueError, "no class")),
    Case("read_class_files folder as file", lambda t: readers.read_class_files({"pos": t}),
         Refused(IsADirectoryError, "class 'pos'", "is a folder")),
    Case("read_idx not gzip", lambda t: readers.read_idx(_write(t / "x-idx1-ubyte.gz", b"plain bytes")),
         Refused(ValueError, "x-idx1-ubyte.gz", "gzip")),
    Case("read_idx truncated gzip", lambda t: readers.read_idx(_write(t / "x.gz", gzip.compress(_idx(np.zeros(50, np.uint8)))[:-12])),
         Refused(ValueError, "x.gz", "gzip")),
    Case("read_idx empty", lambda t: readers.read_idx(_gz(t / "e.gz", b"")), Refused(ValueError, "e.gz", "header")),
    Case("read_usps words", lambda t: readers.read_usps(_gz(t / "u.gz", b"1 abc")), Refused(ValueError, "u.gz", "abc")),
    Case("read_usps pixel out of range", lambda t: readers.read_usps(_gz(t / "u.gz", (" ".join(["3"] + ["5"] * 256)).encode())),
         Refused(ValueError, "u.gz", "[-1, 1]")),
    Case("read_usps label 3.5", lambda t: readers.read_usps(_gz(t / "u.gz", (" ".join(["3.5"] + ["0"] * 256)).encode())),
         Refused(ValueError, "u.gz", "label")),
    Case("read_cifar10_archive not a tar", lambda t: readers.read_cifar10_archive(_write(t / "c.tar.gz", b"nope")),
         Refused(ValueError, "c.tar.gz", "not the CIFAR-10")),
    Case("read_cifar10_archive batch without data", lambda t: readers.read_cifar10_archive(_tar(t / "c.tar.gz", {
        "batches.meta": {b"label_names": [b"a"]}, "test_batch": {b"labels": [0]},
        **{f"data_batch_{i}": {b"labels": [0]} for i in range(1, 6)}})), Refused(ValueError, "c.tar.gz", "data")),
    Case("read_lines unknown encoding", lambda t: readers.read_lines(_write(t / "a.txt", "a\n"), encoding="nope"),
         Refused(LookupError, "nope")),
    Case("read_class_files same file for two classes", lambda t: readers.read_class_files({"a": _write(t / "x.txt", "a\n"), "b": t / "x.txt"}),
         Refused(ValueError, "x.txt", "'a'", "'b'")),
    # datasets
    Case("encode_labels nothing", lambda t: encode_labels(), Refused(ValueError, "train")),
    Case("encode_labels empty train", lambda t: encode_labels([]), Refused(ValueError, "no labels")),
    Case("encode_labels one class", lambda t: encode_labels(["a", "a"]), Refused(ValueError, "at least 2 classes")),
    Case("encode_labels spaces", lambda t: encode_labels(["a ", " a", "b"])[1], Right(lambda c: c == ["a", "b"])),
    Case("encode_labels blank name", lambda t: encode_labels(["a", " ", "b"]), Refused(ValueError, "missing")),
    Case("encode_labels pd.NA", lambda t: encode_labels(["a", pd.NA, "b"]), Refused(ValueError, "missing")),
    Case("encode_labels np.float32 nan", lambda t: encode_labels([np.float32(1), np.float32("nan"), np.float32(0)]),
         Refused(ValueError, "missing")),
    Case("encode_labels one-hot", lambda t: encode_labels([[1, 0], [0, 1]]), Refused(ValueError, "one label per example", "argmax")),
    Case("ImageSplit from NumPy", lambda t: ImageSplit(np.zeros((2, 1, 3, 3), np.uint8), np.array([0, 1])),
         Right(lambda s: isinstance(s.images, torch.Tensor) and s.labels.tolist() == [0, 1])),
    Case("ImageSplit float labels", lambda t: ImageSplit(torch.zeros(2, 1, 3, 3, dtype=torch.uint8), torch.tensor([0.0, 1.7])),
         Refused(ValueError, "labels", "integer")),
    Case("ImageSplit negative labels", lambda t: ImageSplit(torch.zeros(2, 1, 3, 3, dtype=torch.uint8), torch.tensor([0, -1])),
         Refused(ValueError, "labels", "-1")),
    Case("from_splits 'val'", lambda t: Dataset.from_splits("x", "text", {"train": _frame(), "val": _frame()}, ["a", "b"]),
         Refused(ValueError, "'val'", "valid")),
    Case("from_splits no train", lambda t: Dataset.from_splits("x", "text", {"test": _frame()}, ["a", "b"]),
         Refused(ValueError, "needs a 'train' split")),
    Case("from_splits kind", lambda t: Dataset.from_splits("x", "texts", {"train": _frame()}, ["a", "b"]),
         Refused(ValueError, "kind", "'texts'")),
    Case("from_splits label beyond classes", lambda t: Dataset.from_splits("x", "text", {"train": _frame(labels=(0, 1, 2, 0))}, ["a", "b"]),
         Refused(ValueError, "train", "labels", "2 classes")),
    Case("from_splits empty test", lambda t: Dataset.from_splits("x", "text", {"train": _frame(), "test": _frame()[:0]}, ["a", "b"]),
         Refused(ValueError, "test", "no examples")),
    Case("from_splits image split as text", lambda t: Dataset.from_splits("x", "text", {"train": _image_set().train}, ["a", "b"]),
         Refused(TypeError, "train", "DataFrame")),
    Case("load_dataset name not a str", lambda t: load_dataset(["mnist"]), Refused(TypeError, "name", "list")),
    Case("load_dataset upper case", lambda t: load_dataset("MNIST"), Refused(ValueError, "'MNIST'", "'mnist'")),
    Case("load_dataset fold 1.5", lambda t: load_dataset("digits", fold=1.5), Refused(TypeError, "fold", "1.5")),
    Case("load_dataset fold True", lambda t: load_dataset("digits", fold=True), Refused(TypeError, "fold", "True")),
    Case("load_dataset num_folds 0", lambda t: load_dataset("digits", num_folds=0), Refused(ValueError, "num_folds", "0")),
    Case("load_dataset num_folds for an official set", lambda t: load_dataset("mnist", num_folds=5),
         Refused(ValueError, "num_folds", "official")),
    Case("load_dataset seed -1", lambda t: load_dataset("digits", seed=-1), Refused(ValueError, "seed", "-1")),
    Case("cross_validation num_folds 1", lambda t: cross_validation("digits", num_folds=1), Refused(ValueError, "num_folds", ">= 2")),
    Case("cross_validation too many folds", lambda t: cross_validation("digits", num_folds=500),
         Refused(ValueError, "num_folds=500", "smallest class")),
    Case("cross_validation official set", lambda t: cross_validation("mnist"), Refused(ValueError, "mnist", "official")),
    Case("OrderedCopyLoader ordered not callable", lambda t: text.OrderedCopyLoader([1, 2], ordered=[1, 2]),
         Refused(TypeError, "ordered", "function")),
    Case("eval_split 'validation'", lambda t: _text_set().eval_split("validation"), Refused(ValueError, "no validation split", "train")),
    Case("dataset_file unknown file", lambda t: datasets.dataset_file("trec", "nope.txt"), Refused(KeyError, "nope.txt", "TREC_10.label")),
    Case("load_dataset official set, fold", lambda t: load_dataset("trec", fold=1), Refused(ValueError, "official", "fold")),
    # text
    Case("text_dataset no train", lambda t: text_dataset(None), Refused(ValueError, "train")),
    Case("text_dataset folder", lambda t: text_dataset(t), Refused(IsADirectoryError, "is a folder", "text_dataset_from_files")),
    Case("text_dataset same column twice", lambda t: text_dataset(_frame(), label_col="text"),
         Refused(ValueError, "text_col", "label_col", "same")),
    Case("text_dataset unquoted comma", lambda t: text_dataset(_write(t / "c.csv", "text,label\nhello, world,1\nhi,0\n")),
         Refused(ValueError, "c.csv", "line 2", "3 fields")),
    Case("text_dataset one class", lambda t: text_dataset(_frame(labels=(1, 1, 1, 1))), Refused(ValueError, "at least 2 classes")),
    Case("text_dataset ; separated", lambda t: text_dataset(_write(t / "s.csv", "text;label\nhello;1\nbye;0\n")),
         Refused(ValueError, "s.csv", "sep=';'")),
    Case("text_dataset cp1252 csv", lambda t: text_dataset(_write(t / "w.csv", b"text,label\nok,a\nhmm\x85,b\n")),
         Refused(ValueError, "w.csv", "line 3", "utf-8")),
    Case("text_dataset one ragged row", lambda t: text_dataset(_write(t / "r.csv", "text,label\na,1\nb,0,x\nc,1\n")),
         Refused(ValueError, "r.csv", "line 3", "3 fields", "header has 2")),
    Case("text_dataset labels ' pos' and 'pos'", lambda t: text_dataset(_frame(labels=(" pos", "pos", "neg", "neg "))).classes,
         Right(lambda classes: classes == ["neg", "pos"])),
    Case("text_dataset quoted commas", lambda t: text_dataset(_write(t / "q.csv", 'text,label\n"hello, world",1\nhi,0\n')).train.text[0],
         Right(lambda s: s == "hello, world")),
    Case("text_dataset_from_files data.pos data.neg",
         lambda t: (_write(t / "f" / "data.pos", "a\nb\n"), _write(t / "f" / "data.neg", "c\n"), text_dataset_from_files(t / "f"))[-1],
         Right(lambda d: d.classes == ["neg", "pos"] and len(d.train) == 3)),
    Case("text_dataset_from_files pos.txt pos.csv",
         lambda t: [_write(t / "f" / n, "a\n") for n in ("pos.txt", "pos.csv", "neg.txt")] and text_dataset_from_files(t / "f"),
         Refused(ValueError, "pos.csv", "pos.txt")),
    Case("text_dataset_from_files README beside the classes",
         lambda t: [_write(t / "f" / n, "a\n") for n in ("pos.txt", "neg.txt", "README")] and text_dataset_from_files(t / "f").classes,
         Right(lambda classes: classes == ["neg", "pos"])),
    Case("text_dataset_from_files sub-folder", lambda t: [_write(t / "f" / n, "a\n") for n in ("pos.txt", "neg.txt", "more/pos.txt")]
         and text_dataset_from_files(t / "f"), Refused(ValueError, "sub-folders", "more")),
    Case("text_dataset_from_files a file", lambda t: text_dataset_from_files(_write(t / "pos.txt", "a\n")),
         Refused(NotADirectoryError, "pos.txt", "is a file")),
    Case("text_dataset_from_files cp1252", lambda t: text_dataset_from_files({"a": _write(t / "a.txt", b"x\x85y\n"), "b": _write(t / "b.txt", "z\n")}),
         Refused(ValueError, "a.txt", "encoding=")),
    Case("TokenizedTexts given a Dataset", lambda t: text.TokenizedTexts(_text_set(), _Tokenizer()),
         Refused(TypeError, "Dataset", ".train")),
    Case("TokenizedTexts tokenizer as a name", lambda t: text.TokenizedTexts(_frame(), "bert-base-uncased"),
         Refused(TypeError, "tokenizer", "AutoTokenizer")),
    Case("TokenizedTexts max_length None", lambda t: text.TokenizedTexts(_frame(), _Tokenizer(), max_length=None),
         Refused(ValueError, "max_length", "None")),
    Case("TokenizedTexts no rows", lambda t: text.TokenizedTexts(_frame()[:0], _Tokenizer()), Refused(ValueError, "no rows")),
    Case("TokenizedTexts non-string text", lambda t: text.TokenizedTexts(_frame(texts=("a", 5, "b", "c")), _Tokenizer()),
         Refused(ValueError, "text", "row 1")),
    Case("TokenizedTexts NaN label", lambda t: text.TokenizedTexts(_frame(labels=(0, 1, float("nan"), 1)), _Tokenizer()),
         Refused(ValueError, "labels must be class indices")),
    Case("text_dataloader string labels", lambda t: text_dataloader(_frame(labels=("pos", "neg", "pos", "neg")), _Tokenizer()),
         Refused(ValueError, "labels must be class indices", "text_dataset")),
    Case("text_dataloader batch_size 0", lambda t: text_dataloader(_frame(), _Tokenizer(), batch_size=0, shuffle=True),
         Refused(ValueError, "batch_size", "0")),
    Case("text_dataloader batch_size 2.5", lambda t: text_dataloader(_frame(), _Tokenizer(), batch_size=2.5),
         Refused(TypeError, "batch_size", "2.5")),
    Case("text_dataloader seed -1", lambda t: list(text_dataloader(_frame(), _Tokenizer(), shuffle=True, seed=-1)),
         Refused(ValueError, "seed", "-1")),
    Case("text_dataloader shuffle 'no'", lambda t: text_dataloader(_frame(), _Tokenizer(), shuffle="no"),
         Refused(TypeError, "shuffle", "'no'")),
    Case("text_dataloader pad_to 1.5", lambda t: list(text_dataloader(_frame(), _Tokenizer(), pad_to=1.5)),
         Refused(TypeError, "pad_to", "1.5")),
    Case("text_dataloaders given a DataFrame", lambda t: text.text_dataloaders(_frame(), _Tokenizer()),
         Refused(TypeError, "Dataset", "text_dataloader")),
    Case("pad_collate empty batch", lambda t: text.pad_collate([]), Refused(ValueError, "empty batch")),
    Case("BucketBatchSampler batch_size 0", lambda t: list(text.BucketBatchSampler([3, 4], 0)), Refused(ValueError, "batch_size", "0")),
    Case("BucketBatchSampler chunk_batches 0", lambda t: list(text.BucketBatchSampler([3, 4], 2, chunk_batches=0)),
         Refused(ValueError, "chunk_batches", "0")),
    Case("BucketBatchSampler negative length", lambda t: list(text.BucketBatchSampler([3, -4], 2)),
         Refused(ValueError, "lengths", "-4")),
    Case("text_dataset_from_files a number", lambda t: text_dataset_from_files(123), Refused(TypeError, "folder", "int")),
    Case("text_dataset_from_files empty dict", lambda t: text_dataset_from_files({}), Refused(ValueError, "no classes")),
    Case("text_dataset missing column", lambda t: text_dataset(_frame(), text_col="Text"), Refused(ValueError, "'Text'", "columns are")),
    Case("text_dataloader max_length 0", lambda t: text_dataloader(_frame(), _Tokenizer(), max_length=0), Refused(ValueError, "max_length=0")),
    Case("BucketBatchSampler 2-d lengths", lambda t: text.BucketBatchSampler([[3, 4]], 2), Refused(ValueError, "lengths")),
    Case("text_dataloaders image set", lambda t: text.text_dataloaders(_image_set(), _Tokenizer()), Refused(ValueError, "image_dataloaders")),
    Case("text_dataloaders valid 'validation'", lambda t: text.text_dataloaders(_text_set(), _Tokenizer(), valid="validation"),
         Refused(ValueError, "no validation split")),
    # images
    Case("image folder is a file", lambda t: image_dataset_from_folder(_png(t / "x.png")), Refused(NotADirectoryError, "x.png", "is a file")),
    Case("image folder channels 4", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=(".",)), channels=4),
         Refused(ValueError, "channels", "4")),
    Case("image folder size 0", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=(".",)), size=0),
         Refused(ValueError, "size", "0")),
    Case("image folder size (28,)", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=(".",)), size=(28,)),
         Refused(ValueError, "size", "(28,)")),
    Case("image folder validation/ and Test/", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=("train", "validation", "Test"))),
         Right(lambda d: list(d.splits()) == ["train", "valid", "test"])),
    Case("image folder unknown split", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=("train", "holdout"))),
         Refused(ValueError, "holdout")),
    Case("image folder nested class", lambda t: (_image_tree(t / "i", splits=(".",)), _png(t / "i" / "cat" / "x" / "0.png"),
                                                 image_dataset_from_folder(t / "i"))[-1], Refused(ValueError, "cat", "sub-folders")),
    Case("image folder one class", lambda t: image_dataset_from_folder(_image_tree(t / "i", splits=(".",), classes=("cat",))),
         Refused(ValueError, "at least 2 classes")),
    Case("image folder EXIF", lambda t: (_png(t / "i" / "a" / "0.png", (12, 10), exif_orientation=6), _png(t / "i" / "b" / "0.png", (10, 12)),
                                         image_dataset_from_folder(t / "i"))[-1], Right(lambda d: d.train.images.shape == (2, 3, 12, 10))),
    Case("image folder truncated png", lambda t: (_image_tree(t / "i", splits=(".",)),
                                                  _write(t / "i" / "cat" / "0.png", (t / "i" / "dog" / "0.png").read_bytes()[:30]),
                                                  image_dataset_from_folder(t / "i"))[-1], Refused(ValueError, "0.png", "cannot be read")),
    Case("arrays NaN", lambda t: image_dataset_from_arrays(np.full((2, 3, 3), np.nan), [0, 1]), Refused(ValueError, "train", "NaN")),
    Case("arrays int64 0..255", lambda t: image_dataset_from_arrays(np.full((2, 3, 3), 200, np.int64), [0, 1]),
         Right(lambda d: d.train.images.dtype == torch.uint8 and int(d.train.images.max()) == 200)),
    Case("arrays int 0..4095", lambda t: image_dataset_from_arrays(np.full((2, 3, 3), 4000, np.int64), [0, 1]),
         Refused(ValueError, "train", "0..255")),
    Case("arrays y_test without x_test", lambda t: image_dataset_from_arrays(np.zeros((2, 3, 3), np.uint8), [0, 1], y_test=[0]),
         Refused(ValueError, "x_test", "y_test")),
    Case("arrays x_test without y_test", lambda t: image_dataset_from_arrays(np.zeros((2, 3, 3), np.uint8), [0, 1], np.zeros((1, 3, 3), np.uint8)),
         Refused(ValueError, "x_test", "y_test")),
    Case("arrays ragged list", lambda t: image_dataset_from_arrays([np.zeros((3, 3)), np.zeros((4, 4))], [0, 1]),
         Refused(ValueError, "train", "same shape")),
    Case("arrays empty test", lambda t: image_dataset_from_arrays(np.zeros((2, 3, 3), np.uint8), [0, 1], np.zeros((0, 3, 3), np.uint8), []),
         Refused(ValueError, "test", "no examples")),
    Case("arrays one-hot labels", lambda t: image_dataset_from_arrays(np.zeros((2, 3, 3), np.uint8), np.eye(2)),
         Refused(ValueError, "argmax")),
    Case("ImageTransform std 0", lambda t: ImageTransform((4, 4), (0.5,), (0.0,), channels=1), Refused(ValueError, "std", "0")),
    Case("ImageTransform size 0", lambda t: ImageTransform((0, 4), (0.5,), (0.5,)), Refused(ValueError, "size", "(0, 4)")),
    Case("ImageTransform channels 2", lambda t: ImageTransform((4, 4), (0.5,), (0.5,), channels=2), Refused(ValueError, "channels", "2")),
    Case("ImageTransform unknown interpolation", lambda t: ImageTransform((4, 4), (0.5,), (0.5,), interpolation="lanczos"),
         Refused(ValueError, "interpolation", "lanczos")),
    Case("ImageTransform on floats", lambda t: _TRANSFORM(torch.rand(2, 1, 4, 4)), Refused(TypeError, "uint8", "float32")),
    Case("ImageTransform on one image", lambda t: _TRANSFORM(torch.zeros(1, 4, 4, dtype=torch.uint8)),
         Refused(ValueError, "(batch, channels, height, width)", "unsqueeze")),
    Case("ImageTransform on 4 channels", lambda t: _TRANSFORM(torch.zeros(2, 4, 4, 4, dtype=torch.uint8)),
         Refused(ValueError, "4 channels")),
    Case("image_transform dict without mean", lambda t: images.image_transform(dict(input_size=(3, 8, 8))),
         Refused(ValueError, "mean", "std")),
    Case("image_transform size 0", lambda t: images.image_transform(dict(input_size=(3, 8, 8), mean=(0.5,) * 3, std=(0.5,) * 3), size=0),
         Refused(ValueError, "size")),
    Case("image_dataloader given a text split", lambda t: images.image_dataloader(_frame(), _TRANSFORM),
         Refused(TypeError, "ImageSplit", "text_dataloader")),
    Case("image_dataloader given a Dataset", lambda t: images.image_dataloader(_image_set(), _TRANSFORM),
         Refused(TypeError, "Dataset", ".train")),
    Case("image_dataloader transform None", lambda t: images.image_dataloader(_image_set().train, None),
         Refused(TypeError, "transform", "callable")),
    Case("image_dataloader batch_size 0", lambda t: images.image_dataloader(_image_set().train, _TRANSFORM, batch_size=0),
         Refused(ValueError, "batch_size", "0")),
    Case("image_dataloader shuffle 'no'", lambda t: images.image_dataloader(_image_set().train, _TRANSFORM, shuffle="no"),
         Refused(TypeError, "shuffle", "'no'")),
    Case("image_transform channels 4", lambda t: images.image_transform(dict(input_size=(3, 8, 8), mean=(0.5,) * 3, std=(0.5,) * 3), channels=4),
         Refused(ValueError, "channels", "4")),
    Case("ImageTransform mean of 2", lambda t: ImageTransform((4, 4), (0.5, 0.5), (0.5,)), Refused(ValueError, "mean", "(0.5, 0.5)")),
    Case("image folder images outside classes", lambda t: (_image_tree(t / "i", splits=(".",)), _png(t / "i" / "stray.png"),
                                                           image_dataset_from_folder(t / "i"))[-1], Refused(ValueError, "stray.png", "class")),
    Case("image folder valid class not in train", lambda t: image_dataset_from_folder(
        (_image_tree(t / "i", splits=("train",)), _image_tree(t / "i", splits=("test",), classes=("cat", "cow")))[0]),
         Refused(ValueError, "cow", "training split")),
    Case("image_dataloaders given a split", lambda t: images.image_dataloaders(_image_set().train, dict(input_size=(1, 4, 4), mean=(0.5,), std=(0.5,))),
         Refused(TypeError, "Dataset", "image_dataloader")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_bad_input(case, tmp_path, monkeypatch):
    monkeypatch.setenv("FTKIT_DATA", str(tmp_path / "ftkit-data"))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "ftkit-cache"))
    if isinstance(case.expect, Refused):
        with pytest.raises(case.expect.error) as error, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            case.run(tmp_path)
        missing = [n for n in case.expect.needles if n not in str(error.value)]
        assert not missing, f"the message {str(error.value)!r} does not say {missing}"
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert case.expect.check(case.run(tmp_path))
    assert case.lost is None or not case.lost(tmp_path), "something already written was lost"


def tally() -> dict:
    "Run every case outside pytest and count the outcomes: right result, clear error, bad error, silent wrong, data lost."
    counts = dict.fromkeys(("attempts", "right result", "clear error", "bad error", "silent wrong", "data lost"), 0)
    for case in CASES:
        with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tmp = Path(folder)
            os.environ.update(FTKIT_DATA=str(tmp / "ftkit-data"), FTKIT_CACHE=str(tmp / "ftkit-cache"))
            try:
                result, raised = case.run(tmp), None
            except Exception as error:  # noqa: BLE001 -- every outcome is counted
                result, raised = None, error
            if isinstance(case.expect, Refused):
                outcome = ("silent wrong" if raised is None else
                           "clear error" if all(n in str(raised) for n in case.expect.needles) else "bad error")
            else:
                outcome = "bad error" if raised is not None else "right result" if case.expect.check(result) else "silent wrong"
            counts["attempts"] += 1
            counts[outcome] += 1
            counts["data lost"] += bool(case.lost and case.lost(tmp))
    return counts


if __name__ == "__main__":  # python tests/test_bad_input_data.py: the tally for the ftkit on the path
    print(tally())
