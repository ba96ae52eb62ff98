"""ftkit's data modules (downloads, readers, datasets, text, images) against real files: every named set's documented sizes, the download path against a throwaway HTTP
server on 127.0.0.1 (good file, flipped byte, connection cut, process killed, offline, read-only data folder), the
CIFAR-10 archive parser on a tiny archive built here, and bring-your-own inputs written by the tests."""
import functools
import hashlib
import http.server
import io
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from conftest import ROOT
from ftkit import datasets, downloads, readers
from ftkit.images import image_dataloaders, image_dataset_from_arrays, image_dataset_from_folder
from ftkit.text import BucketBatchSampler, pad_collate, text_dataset, text_dataset_from_files

SHARED = Path(os.environ.get("FTKIT_DATA") or ROOT.parent / "shared" / "data")
needs_shared = pytest.mark.skipif(not (SHARED / "trec").is_dir(), reason="needs the reference data folder (FTKIT_DATA)")


# ---------------------------------------------------------------- every named set, documented sizes
@needs_shared
@pytest.mark.parametrize("name", [n for n in datasets.REGISTRY if n != "cifar10"])
def test_named_set_loads_with_documented_sizes(name, monkeypatch):
    monkeypatch.setenv("FTKIT_DATA", str(SHARED))
    start = time.perf_counter()
    dataset = datasets.load_dataset(name)
    seconds = time.perf_counter() - start
    print(f"{name}: {seconds:.2f} s")
    sizes = dataset.info.split_sizes
    if "all" in sizes:
        assert len(dataset.train) + len(dataset.test) == sizes["all"]
    else:
        assert {k: len(v) for k, v in dataset.splits().items()} == sizes
    split = dataset.train
    if dataset.kind == "text":
        assert list(split.columns[:2]) == ["text", "label"] and split.label.dtype == np.int64
        assert split.text.str.len().min() > 0
        assert set(split.label) == set(range(len(dataset.classes)))
    else:
        assert split.images.dtype == torch.uint8 and split.images.ndim == 4
        assert int(split.images.max()) > 200  # uint8 0..255, not a squashed range
        assert set(split.labels.tolist()) == set(range(len(dataset.classes)))
    assert seconds < 10


@needs_shared
def test_per_class_counts_match_readmes(monkeypatch):
    monkeypatch.setenv("FTKIT_DATA", str(SHARED))
    usps = datasets.load_dataset("usps")
    assert usps.test.labels.bincount().tolist() == [359, 264, 198, 166, 200, 160, 170, 147, 166, 177]
    cifar = datasets.load_dataset("cifar10_subset")
    assert cifar.test.labels.bincount().tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]
    assert cifar.test.labels[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]  # the README's canonical first labels
    mr = datasets.load_dataset("mr")
    counts = mr.train.label.value_counts()
    assert all(abs(c - 5331 * 0.9) <= 1 for c in counts), counts  # stratified: 5,331 per class, 9 of 10 folds


@needs_shared
def test_mr_and_subj_are_read_as_cp1252(monkeypatch):
    "Their ellipses, dashes and quotes are cp1252 bytes; Latin-1 made them control characters a tokenizer deletes."
    monkeypatch.setenv("FTKIT_DATA", str(SHARED))
    for name, merged in (("mr", "hmmm\u2026might"), ("subj", "\u2026")):
        dataset = datasets.load_dataset(name)
        texts = pd.concat([dataset.train, dataset.test]).text
        assert texts.str.contains(merged).any()  # 0x85: an ellipsis, not the control character NEL
        assert texts.str.contains("\u2013").any() and texts.str.contains("\u2014").any()  # 0x96, 0x97: dashes
        assert texts.str.contains("\u2018").any()  # 0x91: a curly quote
        assert not texts.str.contains("[\x80-\x9f]").any()  # no C1 control characters left


# ---------------------------------------------------------------- a throwaway HTTP server on 127.0.0.1
class _Handler(http.server.SimpleHTTPRequestHandler):
    "Serves a folder; `cut` files send half their bytes and close; `stall` files send half and hang."
    requests: list
    cut: set
    stall: threading.Event | None

    def log_message(self, *args):  # quiet
        pass

    def do_GET(self):
        self.requests.append(self.path)
        name = self.path.rsplit("/", 1)[-1]
        if name in self.cut or (self.stall is not None and name in self.stall_names):
            payload = Path(self.translate_path(self.path)).read_bytes()
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload[: len(payload) // 2])
            self.wfile.flush()
            if self.stall is not None and name in self.stall_names:
                self.stall.wait(30)
            return  # the connection closes with half the promised bytes sent
        super().do_GET()


@pytest.fixture
def server(tmp_path):
    "A loopback server over tmp_path/served; yields (base_url, served folder, handler class)."
    served = tmp_path / "served"
    served.mkdir()
    handler = type("Handler", (_Handler,), dict(requests=[], cut=set(), stall=None, stall_names=set()))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(served)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", served, handler
    if handler.stall is not None:
        handler.stall.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def empty_data(tmp_path, monkeypatch):
    "An empty, writable data folder and cache."
    folder = tmp_path / "data"
    monkeypatch.setenv("FTKIT_DATA", str(folder))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    return folder


def _serve(served: Path, name: str, flip: str | None = None):
    shutil.copytree(SHARED / name, served / name)
    if flip:
        path = served / name / flip
        raw = bytearray(path.read_bytes())
        raw[len(raw) // 2] ^= 0x01
        path.write_bytes(bytes(raw))


def _sha256_of_registry(name: str, filename: str) -> str:
    return next(f.sha256 for f in datasets.REGISTRY[name].files if f.filename == filename)


def _leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


@needs_shared
def test_good_download_is_cached(server, empty_data, monkeypatch):
    url, served, handler = server
    _serve(served, "trec")
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)
    trec = datasets.load_dataset("trec")
    assert (len(trec.train), len(trec.test)) == (5452, 500)
    assert _leftovers(empty_data / "trec") == ["TREC_10.label", "train_5500.label"]  # no temporary files left
    assert datasets.verify_dataset("trec") == {"train_5500.label": "ok", "TREC_10.label": "ok"}
    umask = os.umask(0); os.umask(umask)
    assert (empty_data / "trec" / "TREC_10.label").stat().st_mode & 0o777 == 0o666 & ~umask  # readable by the lab
    assert len(handler.requests) == 2
    datasets.load_dataset("trec")  # from the cache now
    assert len(handler.requests) == 2


@needs_shared
def test_flipped_byte_is_rejected_and_nothing_is_kept(server, empty_data, monkeypatch):
    url, served, _ = server
    _serve(served, "trec", flip="TREC_10.label")
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)
    expected = _sha256_of_registry("trec", "TREC_10.label")
    actual = hashlib.sha256((served / "trec" / "TREC_10.label").read_bytes()).hexdigest()
    with pytest.raises(downloads.ChecksumError) as error:
        datasets.load_dataset("trec")
    message = str(error.value)
    assert "TREC_10.label" in message and expected in message and actual in message
    assert "TREC_10.label" not in _leftovers(empty_data / "trec")
    assert not [p for p in _leftovers(empty_data / "trec") if p.endswith(".part")]


@needs_shared
def test_connection_cut_midway_leaves_no_partial_file(server, empty_data, monkeypatch):
    url, served, handler = server
    _serve(served, "trec")
    handler.cut = {"train_5500.label"}
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)
    with pytest.raises(ConnectionError, match=r"train_5500.label .* stopped after 167,929 of 335,858 bytes"):
        datasets.load_dataset("trec")
    assert _leftovers(empty_data / "trec") == []


_KILL_SCRIPT = """
from ftkit import datasets
datasets.dataset_file("trec", "train_5500.label", progress=False)
"""


@needs_shared
def test_killed_download_leaves_no_file_and_next_run_recovers(server, empty_data, monkeypatch):
    url, served, handler = server
    _serve(served, "trec")
    handler.stall, handler.stall_names = threading.Event(), {"train_5500.label"}
    env = dict(os.environ, FTKIT_DATA_MIRROR=url, FTKIT_DATA=str(empty_data))
    process = subprocess.Popen([sys.executable, "-c", _KILL_SCRIPT], env=env, cwd=ROOT)
    folder = empty_data / "trec"
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.stat().st_size >= 335858 // 2 for p in folder.glob(".*.part")):
        time.sleep(0.1)
    parts = list(folder.glob(".*.part"))
    assert parts and parts[0].stat().st_size == 335858 // 2, "the download never started"
    process.send_signal(signal.SIGKILL)
    process.wait(10)
    assert not (folder / "train_5500.label").exists()  # nothing under the canonical name
    handler.stall.set()
    handler.stall_names = set()
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)  # run again at once: the killed run's .part is seconds old
    path = datasets.dataset_file("trec", "train_5500.label", progress=False)
    assert downloads.sha256_of(path) == _sha256_of_registry("trec", "train_5500.label")
    assert _leftovers(folder) == ["train_5500.label"]  # the killed run's temporary file was removed (no lock held it)


def test_offline_is_one_clear_error(empty_data, monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("FTKIT_DATA_MIRROR", f"http://127.0.0.1:{port}")
    with pytest.raises(downloads.DataNotFoundError) as error:
        datasets.load_dataset("sst2")
    message = str(error.value)
    assert f"http://127.0.0.1:{port}/sst2/stsa.binary.train" in message
    assert "stsa.binary.train" in message and str(empty_data / "sst2") in message
    assert _leftovers(empty_data) == []


@needs_shared
def test_read_only_data_folder_reads_and_downloads_go_to_cache(server, tmp_path, monkeypatch):
    url, served, _ = server
    read_only = tmp_path / "ro"
    shutil.copytree(SHARED / "trec", read_only / "trec")
    for path in [read_only / "trec", read_only]:
        for child in path.iterdir() if path.is_dir() else []:
            child.chmod(0o444 if child.is_file() else 0o555)
        path.chmod(0o555)
    _serve(served, "sst2")
    monkeypatch.setenv("FTKIT_DATA", str(read_only))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)
    try:
        assert len(datasets.load_dataset("trec").test) == 500  # read from the read-only folder
        sst2 = datasets.load_dataset("sst2")  # missing there: downloaded into the per-user cache
        assert len(sst2.valid) == 872
        assert sorted(p.name for p in (tmp_path / "cache" / "data" / "sst2").iterdir()) == [
            "stsa.binary.dev", "stsa.binary.test", "stsa.binary.train"]
        assert not (read_only / "sst2").exists()
    finally:
        for path in [read_only, *read_only.rglob("*")]:
            path.chmod(0o755)


@needs_shared
def test_truncated_local_file_is_caught_on_read(tmp_path, monkeypatch):
    shutil.copytree(SHARED / "trec", tmp_path / "trec")
    path = tmp_path / "trec" / "TREC_10.label"
    path.write_bytes(path.read_bytes()[:-10])
    monkeypatch.setenv("FTKIT_DATA", str(tmp_path))
    with pytest.raises(downloads.ChecksumError, match="TREC_10.label has 23,344 bytes, expected 23,354"):
        datasets.load_dataset("trec")


def test_same_size_corruption_is_caught_on_first_use(tmp_path, monkeypatch):
    shutil.copytree(SHARED / "trec", tmp_path / "trec")
    path = tmp_path / "trec" / "TREC_10.label"
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b"NUM:", b"LOC:", 1))  # one label changed, same size
    monkeypatch.setenv("FTKIT_DATA", str(tmp_path))
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    with pytest.raises(downloads.ChecksumError, match="right size but not the right content"):
        datasets.load_dataset("trec")
    path.write_bytes(raw)  # the canonical bytes again: checked once, then trusted while size and time stamp hold
    assert len(datasets.load_dataset("trec").test) == 500
    assert len(list((tmp_path / "cache" / "verified").iterdir())) == 2


# ---------------------------------------------------------------- CIFAR-10: the canonical archive's format
def _cifar_archive(path: Path, per_batch: int = 4, payload=None) -> dict:
    "A tiny archive laid out like cifar-10-python.tar.gz: Python-2 style pickles with bytes keys."
    rng = np.random.default_rng(0)
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    batches = {f"data_batch_{i}": i for i in range(1, 6)} | {"test_batch": 6}
    arrays = {}
    with tarfile.open(path, "w:gz") as archive:
        def add(name, obj):
            raw = pickle.dumps(obj, protocol=2)
            raw = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")  # as the 2009 files name it
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            archive.addfile(info, io.BytesIO(raw))
        add("batches.meta", {b"label_names": names, b"num_cases_per_batch": per_batch, b"num_vis": 3072})
        for name, seed in batches.items():
            images = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, per_batch)]
            arrays[name] = (images, labels)
            add(name, payload if (payload is not None and name == "test_batch") else
                {b"batch_label": name.encode(), b"labels": labels, b"data": images, b"filenames": [b"x.png"] * per_batch})
    return arrays


def test_cifar10_archive_parser(tmp_path):
    arrays = _cifar_archive(tmp_path / "cifar-10-python.tar.gz")
    parsed = readers.read_cifar10_archive(tmp_path / "cifar-10-python.tar.gz")
    (train_images, train_labels), (test_images, test_labels) = parsed["train"], parsed["test"]
    assert parsed["classes"][:3] == ["airplane", "automobile", "bird"]
    assert train_images.shape == (20, 3, 32, 32) and test_images.shape == (4, 3, 32, 32)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    first = arrays["data_batch_1"][0][0]
    # the pickles store each image as 1024 red, then 1024 green, then 1024 blue values, row-major
    assert np.array_equal(train_images[0], first.reshape(3, 32, 32))
    assert train_labels[4:8].tolist() == arrays["data_batch_2"][1]
    assert test_labels.tolist() == arrays["test_batch"][1]


def test_cifar10_archive_refuses_code(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))
    _cifar_archive(tmp_path / "evil.tar.gz", payload={b"data": Evil()})
    with pytest.raises(pickle.UnpicklingError, match="refusing to load posix.system"):
        readers.read_cifar10_archive(tmp_path / "evil.tar.gz")


def test_cifar10_end_to_end_through_the_download_path(server, empty_data, monkeypatch):
    "load_dataset('cifar10') fetches, checks and parses the archive (a tiny one; the registry entry is patched to it)."
    url, served, _ = server
    (served / "cifar10").mkdir()
    _cifar_archive(served / "cifar10" / "cifar-10-python.tar.gz", per_batch=2)
    archive = served / "cifar10" / "cifar-10-python.tar.gz"
    tiny = downloads.RemoteFile("cifar-10-python.tar.gz", None, hashlib.sha256(archive.read_bytes()).hexdigest(), archive.stat().st_size)
    monkeypatch.setitem(datasets.REGISTRY, "cifar10", replace(datasets.REGISTRY["cifar10"], files=(tiny,)))
    monkeypatch.setenv("FTKIT_DATA_MIRROR", url)
    cifar = datasets.load_dataset("cifar10")
    assert (len(cifar.train), len(cifar.test)) == (10, 2)
    assert (empty_data / "cifar10" / "cifar-10-python.tar.gz").is_file()
    # and the subset, with no npz anywhere, is cut from the full archive (its first images, canonical order)
    subset = datasets.load_dataset("cifar10_subset")
    assert torch.equal(subset.train.images, cifar.train.images) and torch.equal(subset.test.labels, cifar.test.labels)


# ---------------------------------------------------------------- bring your own
def test_text_csv_with_test_and_valid(tmp_path):
    for split, rows in (("train", [("good", "pos"), ("bad", "neg"), ("fine", "pos")]), ("test", [("meh", "neg")]),
                        ("valid", [("ok", "pos")])):
        pd.DataFrame(rows, columns=["sentence", "y"]).to_csv(tmp_path / f"{split}.csv", index=False)
    dataset = text_dataset(tmp_path / "train.csv", tmp_path / "test.csv", tmp_path / "valid.csv", text_col="sentence", label_col="y")
    assert dataset.classes == ["neg", "pos"]
    assert dataset.train.label.tolist() == [1, 0, 1] and dataset.test.label.tolist() == [0] and dataset.valid.label.tolist() == [1]
    assert dataset.eval_split("auto") is dataset.valid


def test_text_integer_labels_from_csv_keep_their_order(tmp_path):
    pd.DataFrame({"text": ["a", "b", "c"], "label": [2, 10, 2]}).to_csv(tmp_path / "t.csv", index=False)
    dataset = text_dataset(tmp_path / "t.csv")
    assert dataset.classes == ["2", "10"]  # numeric order, not string order
    assert dataset.train.label.tolist() == [0, 1, 0]


@pytest.mark.parametrize("frame, message", [
    (pd.DataFrame({"txt": ["a"], "label": [0]}), "no column ['text'] (columns are ['txt', 'label'])"),
    (pd.DataFrame({"text": ["a", "b", "c"], "label": [0, "neg", 1]}), "labels of mixed types"),
    (pd.DataFrame({"text": ["a", "b"], "label": [0, None]}), "1 labels are missing"),
    (pd.DataFrame({"text": ["a", None], "label": [0, 1]}), "1 empty texts"),
    (pd.DataFrame({"text": [], "label": []}), "no rows"),
])
def test_text_bad_frames(frame, message):
    with pytest.raises(ValueError) as error:
        text_dataset(frame)
    assert message in str(error.value)


def test_labels_spelled_two_ways_are_refused():
    assert datasets.encode_labels([1, 2, 1.0], [" 2"])[1] == ["1", "2"]  # what pandas and CSVs do to integers
    with pytest.raises(ValueError, match=r"labels \['01', '1'\] would all become class 1"):
        datasets.encode_labels(["01", "1", "2"])


def test_text_csv_that_is_blank_or_not_utf8_is_one_clear_error(tmp_path):
    (tmp_path / "blank.csv").write_text("\n")
    with pytest.raises(ValueError, match="has no columns"):
        text_dataset(tmp_path / "blank.csv")
    (tmp_path / "latin1.csv").write_bytes("text,label\ncaf\u00e9 au lait,a\nthe other,b\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"latin1.csv is not utf-8 text \(byte 0xe9 on line 2.*encoding='latin-1'"):
        text_dataset(tmp_path / "latin1.csv")
    assert text_dataset(tmp_path / "latin1.csv", encoding="latin-1").train.text[0] == "caf\u00e9 au lait"


def test_text_mixed_labels_in_a_csv(tmp_path):
    (tmp_path / "t.csv").write_text("text,label\nfoo,1\nbar,pos\n")
    with pytest.raises(ValueError, match="labels of mixed types"):
        text_dataset(tmp_path / "t.csv")


def test_text_one_file_per_class(tmp_path):
    (tmp_path / "train").mkdir()
    (tmp_path / "train" / "sport.txt").write_text("a goal\nthe match\n")
    (tmp_path / "train" / "politics.txt").write_text("a vote\n")
    test = {"sport": tmp_path / "s.txt", "politics": tmp_path / "p.txt"}
    test["sport"].write_text("a race\n")
    test["politics"].write_text("an election\n")
    dataset = text_dataset_from_files(tmp_path / "train", test)
    assert dataset.classes == ["politics", "sport"] and len(dataset.train) == 3 and len(dataset.test) == 2
    test["politics"].write_text("")
    with pytest.raises(ValueError, match=r"p.txt \(class 'politics'\) is empty"):
        text_dataset_from_files(tmp_path / "train", test)


def _write_images(root: Path, counts: dict, size=(9, 7)):
    from PIL import Image
    for class_name, count in counts.items():
        (root / class_name).mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", size, 40 * i).save(root / class_name / f"{i}.png")


def test_image_folder_single_split_and_grayscale(tmp_path):
    _write_images(tmp_path / "imgs", {"cat": 2, "dog": 3})
    dataset = image_dataset_from_folder(tmp_path / "imgs", channels=1)
    assert dataset.train.images.shape == (5, 1, 7, 9) and dataset.test is None
    assert dataset.classes == ["cat", "dog"] and dataset.train.labels.tolist() == [0, 0, 1, 1, 1]


def test_image_folder_16_bit_images_are_scaled_not_clipped(tmp_path):
    from PIL import Image
    ramp = (np.arange(64, dtype=np.uint16) * 1024).reshape(8, 8)  # 0 .. 64512 in 64 levels
    for class_name, image in (("ramp", ramp), ("flipped", ramp[::-1].copy())):
        (tmp_path / "imgs" / class_name).mkdir(parents=True)
        Image.fromarray(image).save(tmp_path / "imgs" / class_name / "0.png")
    for channels in (1, 3):
        images = image_dataset_from_folder(tmp_path / "imgs", channels=channels).train.images
        assert images.unique().numel() == 64 and int(images.max()) == round(64512 / 257)


def test_image_folder_with_splits_and_resize(tmp_path):
    _write_images(tmp_path / "imgs" / "train", {"a": 2, "b": 2}, size=(10, 10))
    _write_images(tmp_path / "imgs" / "val", {"a": 1, "b": 1}, size=(20, 12))
    with pytest.raises(ValueError, match="pass size= to resize"):
        image_dataset_from_folder(tmp_path / "imgs")  # sizes differ across splits
    dataset = image_dataset_from_folder(tmp_path / "imgs", size=8)
    assert dataset.valid.images.shape == (2, 3, 8, 8) and dataset.test is None


def test_image_folder_errors(tmp_path):
    _write_images(tmp_path / "imgs", {"cat": 1})
    (tmp_path / "imgs" / "dog").mkdir()
    (tmp_path / "imgs" / "dog" / "notes.txt").write_text("not an image")
    with pytest.raises(ValueError, match="class folder .*dog has no images"):
        image_dataset_from_folder(tmp_path / "imgs")
    with pytest.raises(FileNotFoundError, match="no folder"):
        image_dataset_from_folder(tmp_path / "missing")


def test_image_arrays_layouts():
    labels = ["a", "b", "a", "b"]
    for x in (np.zeros((4, 6, 5), np.uint8), np.zeros((4, 6, 5, 3), np.uint8), torch.zeros(4, 3, 6, 5, dtype=torch.uint8)):
        dataset = image_dataset_from_arrays(x, labels)
        assert dataset.train.images.shape[2:] == (6, 5)
    with pytest.raises(ValueError, match="4 images but 3 labels"):
        image_dataset_from_arrays(np.zeros((4, 6, 5), np.uint8), labels[:3])
    with pytest.raises(ValueError, match="images of shape"):
        image_dataset_from_arrays(np.zeros((4, 6, 5, 7), np.uint8), labels)
    assert image_dataset_from_arrays(np.full((4, 6, 5), 255, np.int32), labels).train.images.dtype == torch.uint8
    with pytest.raises(ValueError, match=r"must be uint8, integers in 0..255 or floats in \[0, 1\], got torch.int32 from 0 to 1000"):
        image_dataset_from_arrays(np.arange(4 * 6 * 5, dtype=np.int32).reshape(4, 6, 5) * 1000 // 119, labels)


# ---------------------------------------------------------------- loaders
def test_bucket_sampler_covers_every_example_once_and_groups_lengths():
    lengths = np.random.default_rng(0).integers(3, 60, 1000)
    sampler = BucketBatchSampler(lengths, 16, shuffle=True, seed=0)
    batches = list(sampler)
    assert len(batches) == len(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    random_spread = np.mean([np.ptp(lengths[b]) for b in np.array_split(np.random.default_rng(1).permutation(1000), len(batches))])
    assert spread < random_spread / 5
    assert list(sampler) != batches  # a new order every epoch


def test_bucket_sampler_seeds_are_independent_streams():
    "With default_rng(seed + epoch), seed 0's second epoch was seed 1's first; a (seed, epoch) seed sequence separates them."
    lengths = np.random.default_rng(0).integers(3, 60, 1000)
    seed_0 = BucketBatchSampler(lengths, 16, seed=0)
    epoch_0 = list(seed_0)
    assert list(seed_0) != list(BucketBatchSampler(lengths, 16, seed=1))  # seed 0 epoch 1 vs seed 1 epoch 0
    assert list(BucketBatchSampler(lengths, 16, seed=0)) == epoch_0  # still reproducible


def test_pad_to_never_cuts_a_row():
    "pad_to=40 cut TREC's one 41-token question (its [SEP] lost); now a batch is padded to max(pad_to, longest)."
    batch = [([101, 5, 6, 102], 0), ([101, 102], 1)]
    input_ids, attention_mask, labels = pad_collate(batch, pad_id=0, pad_to=3)
    assert input_ids.tolist() == [[101, 5, 6, 102], [101, 102, 0, 0]]
    assert attention_mask.sum(1).tolist() == [4, 2] and labels.tolist() == [0, 1]
    assert pad_collate(batch, pad_to=6)[0].shape == (2, 6)


def test_image_dataloader_in_a_fastai_learner():
    import fastai.callback.all  # noqa: F401 -- registers Learner.fit_one_cycle, no_bar, ...
    import timm
    from fastai.learner import Learner
    x = torch.randint(0, 256, (40, 1, 12, 12), dtype=torch.uint8)
    dataset = image_dataset_from_arrays(x, [i % 2 for i in range(40)], x[:8], [i % 2 for i in range(8)])
    model = timm.create_model("test_resnet", pretrained=False, num_classes=2, in_chans=1)
    dls = image_dataloaders(dataset, model, batch_size=16, size=16)
    images, labels = next(iter(dls.train))
    assert images.shape == (16, 1, 16, 16) and images.dtype == torch.float32
    learn = Learner(dls, model, loss_func=torch.nn.CrossEntropyLoss())
    with learn.no_bar(), learn.no_logging():
        learn.fit(1, 1e-3)
        loss = learn.validate()[0]
        _, train_targets = learn.get_preds(ds_idx=0)  # the shuffled training loader, asked for an ordered copy
    assert np.isfinite(loss)
    assert train_targets.tolist() == dataset.train.labels.tolist()
