"""Careless and hostile inputs to the core, layer groups, learning rates, models and the demo: each gets the right
answer or one clear error naming the problem. Each test reproduces a case that once gave a silently wrong result, a
raw error from deep inside a library, or lost data. The data rooms and the training rooms have their own files
(test_bad_input_data.py, test_bad_input_training.py)."""
import os
import signal
import subprocess
import sys
import textwrap
import warnings

import pytest
import torch
from torch import nn

warnings.filterwarnings("ignore", category=FutureWarning)

import timm  # noqa: E402
import transformers  # noqa: E402

from ftkit.core import OUTPUT_MARKER, cache_dir, check_output_folder, staged_folder, unwrap_model  # noqa: E402
from ftkit.discriminative import group_lrs, param_groups  # noqa: E402
from ftkit.groups import layer_groups, resolve_groups  # noqa: E402
from ftkit.models import CheckpointError, create_timm_model, hf_classifier  # noqa: E402


# --- checkpoints that would leave a model random ---------------------------------------------------------------

@pytest.fixture(scope="module")
def resnet_weights():
    return timm.create_model("resnet18", pretrained=False, num_classes=1000).state_dict()


@pytest.mark.parametrize("keep, message", [
    (lambda w: {}, "no weights besides the classifier"),
    (lambda w: {k: v for k, v in w.items() if k.startswith("fc.")}, "no weights besides the classifier"),
    (lambda w: dict(list(w.items())[: len(w) // 3]), "did not come from the file"),
    (lambda w: {f"x.{i}": v for i, v in enumerate(list(w.values())[: len(w) // 3])}, "did not come from the file"),
    (lambda w: dict(list(w.items())[: len(w) * 2 // 3]), "weights missing from the file"),
])
def test_timm_checkpoint_that_leaves_layers_random_is_refused(tmp_path, resnet_weights, keep, message):
    torch.save(keep(resnet_weights), tmp_path / "w.pth")
    with pytest.raises(CheckpointError, match=message):
        create_timm_model("resnet18", 5, pretrained=tmp_path / "w.pth")


def _save_encoder(folder, model, tokenizer_from=None):
    model.save_pretrained(folder)
    if tokenizer_from is not None:
        transformers.AutoTokenizer.from_pretrained(tokenizer_from).save_pretrained(folder)


@pytest.fixture(scope="module")
def tokenizer_folder():
    from ftkit.models import minilm_path
    return minilm_path()


def test_hf_encoder_with_another_models_weights_is_refused(tmp_path, tokenizer_folder):
    small = dict(vocab_size=30522, num_attention_heads=2)  # 512 positions, as DistilBERT: the names overlap, the layers do not
    distil = transformers.DistilBertConfig(dim=32, n_layers=2, hidden_dim=64, n_heads=2, vocab_size=30522)
    _save_encoder(tmp_path / "distil", transformers.DistilBertModel(distil))
    _save_encoder(tmp_path / "bert", transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=2, intermediate_size=64, **small)),
                  tokenizer_from=tokenizer_folder)
    (tmp_path / "distil" / "model.safetensors").replace(tmp_path / "bert" / "model.safetensors")
    with pytest.raises(CheckpointError, match="weights missing from the file"):
        hf_classifier(tmp_path / "bert", 2)


def test_hf_folder_without_tokenizer_files_is_refused(tmp_path):
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    _save_encoder(tmp_path / "bert", transformers.BertModel(config))
    with pytest.raises((CheckpointError, OSError), match="tokenizer"):
        hf_classifier(tmp_path / "bert", 2)


def test_hf_damaged_weights_file_is_one_clear_error(tmp_path, tokenizer_folder):
    config = transformers.BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=64, max_position_embeddings=64)
    _save_encoder(tmp_path / "bert", transformers.BertModel(config), tokenizer_from=tokenizer_folder)
    (tmp_path / "bert" / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises((CheckpointError, OSError), match="could not load the encoder"):
        hf_classifier(tmp_path / "bert", 2)


# --- layer groups ---------------------------------------------------------------------------------------------

class HeadFirst(nn.Module):
    "The head registered before the body, as user models often do."
    def __init__(self):
        super().__init__()
        self.head = nn.Linear(8, 2)
        self.body = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8))

    def forward(self, x):
        return self.head(self.body(x))


def test_head_registered_first_is_still_last():
    groups = layer_groups(HeadFirst())
    assert [g.name for g in groups] == ["body", "head"]
    assert group_lrs(groups, 1e-2, factor=2.6)[-1] == 1e-2  # the head gets the largest rate


def test_untraceable_model_with_head_first_warns():
    class Untraceable(HeadFirst):
        def forward(self, x):
            return self.head(self.body(x)) if x.sum() > 0 else self.head(self.body(-x))
    with pytest.warns(UserWarning, match="is not last"):
        layer_groups(Untraceable())


def test_groups_of_another_copy_are_refused():
    import copy
    model = HeadFirst()
    with pytest.raises(ValueError, match="another model"):
        resolve_groups(model, layer_groups(copy.deepcopy(model)))


# --- learning rates -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lr, message", [
    (-1e-3, "lr must be a finite number > 0"), (float("nan"), "lr must be a finite number > 0"),
    (float("inf"), "lr must be a finite number > 0"), ([1e-3, float("nan"), 1e-2], r"lr\[1\] must be"),
    ([1e-3, -1e-3, 1e-2], r"lr\[1\] must be"), (slice(-1e-4, 1e-2), "lower rate must be"),
    (slice(1e-2, 1e-4), "runs downwards"), ([0, 0, 0], "nothing would train"),
])
def test_bad_learning_rates_are_refused(lr, message):
    with pytest.raises(ValueError, match=message):
        group_lrs(3, lr)


def test_ladder_factor_zero_and_bad_weight_decay():
    with pytest.raises(ValueError, match="factor must be a finite number > 0"):
        group_lrs(3, 1e-3, factor=0)
    with pytest.raises(ValueError, match="weight_decay must be"):
        param_groups(HeadFirst(), 1e-3, weight_decay=float("nan"))


# --- folders: the cache, and results that must not be lost ----------------------------------------------------

def test_cache_folder_that_is_a_file_is_one_clear_error(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "file"))
    with pytest.raises(OSError, match="point FTKIT_CACHE at a writable folder"):
        cache_dir("models")


@pytest.mark.parametrize("path, message", [("f", "is a file"), ("f/sub", "which is a file"), ("", "empty path")])
def test_output_folders_refused_before_any_work(tmp_path, path, message):
    (tmp_path / "f").write_text("")
    with pytest.raises((OSError, ValueError), match=message):
        check_output_folder(tmp_path / path if path else "")


@pytest.mark.skipif(os.name != "posix", reason="SIGKILL")
def test_kill_while_saving_keeps_the_old_results_whole(tmp_path):
    "kill -9 in the middle of writing a new set of results: the old set is still there, whole, and nothing is mixed."
    out = tmp_path / "results"
    with staged_folder(out) as staging:
        (staging / "results.csv").write_text("old")
        (staging / "summary.txt").write_text("old")
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from ftkit.core import staged_folder
        with staged_folder({str(out)!r}) as staging:
            (staging / "results.csv").write_text("new")
            print("half written", flush=True)
            time.sleep(60)
            (staging / "summary.txt").write_text("new")
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "half written"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    files = lambda: {p.name: p.read_text() for p in out.iterdir() if p.name != OUTPUT_MARKER}
    assert files() == {"results.csv": "old", "summary.txt": "old"}
    with staged_folder(out) as staging:  # the next save still works, and replaces the set as a whole
        (staging / "results.csv").write_text("next")
    assert files() == {"results.csv": "next"}


def test_a_folder_of_ones_own_is_never_replaced(tmp_path):
    "staged_folder replaces only folders ftkit wrote: a user's folder keeps every file."
    (tmp_path / "thesis").mkdir()
    (tmp_path / "thesis" / "thesis.tex").write_text("years of work")
    with pytest.raises(FileExistsError, match="already holds files ftkit did not write"):
        with staged_folder(tmp_path / "thesis") as staging:
            (staging / "results.csv").write_text("new")
    assert [p.name for p in (tmp_path / "thesis").iterdir()] == ["thesis.tex"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["thesis"]  # no staging folder left behind


def test_unwrap_model_leaves_a_users_module_attribute_alone():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.module, self.head = nn.Linear(4, 4), nn.Linear(4, 2)
    net = Net()
    assert unwrap_model(net) is net and unwrap_model(nn.DataParallel(net)) is net
