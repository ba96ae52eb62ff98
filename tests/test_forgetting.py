"""Contract tests for ftkit.similarity / ftkit.forgetting across real architectures: every layer group that
ftkit.groups finds has a module whose output stands for it, per-group CKA and weight drift run on it, and no
hook is left behind."""
import copy

import pytest
import torch
from torch import nn

from ftkit.core import seed_everything
from ftkit.forgetting import snapshot, weight_drift
from ftkit.groups import layer_groups
from ftkit.similarity import group_modules, layer_cka


def _timm(name, **kwargs):
    import timm
    return timm.create_model(name, pretrained=False, num_classes=3, **kwargs), torch.randn(4, 3, 32, 32)


def _bert():
    from transformers import BertConfig, BertModel

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = BertModel(BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                                intermediate_size=32), add_pooling_layer=False)
            self.head = nn.Linear(16, 3)

        def forward(self, input_ids, attention_mask=None):
            return self.head(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state[:, 0])
    return Classifier(), {"input_ids": torch.randint(0, 50, (4, 7)), "attention_mask": torch.ones(4, 7, dtype=torch.long)}


def _torchvision():
    import torchvision
    return torchvision.models.resnet18(num_classes=3), torch.randn(4, 3, 32, 32)


MODELS = {
    "timm resnet18": lambda: _timm("resnet18"),
    "timm convnext_atto": lambda: _timm("convnext_atto"),
    "timm vit_tiny": lambda: _timm("vit_tiny_patch16_224", img_size=32),
    "timm efficientnet_b0": lambda: _timm("efficientnet_b0"),
    "bert": _bert,
    "torchvision resnet18": _torchvision,
}


def _hooks(model):
    return sum(len(m._forward_hooks) for m in model.modules())


@pytest.mark.parametrize("name", MODELS)
def test_groups_cka_drift(name):
    seed_everything(0)
    model, batch = MODELS[name]()
    groups = layer_groups(model)
    modules = group_modules(model)
    missing = [g.name for g in groups if g.name not in modules]
    assert not missing, f"{name}: no module found for groups {missing}"
    assert list(modules) == [g.name for g in groups], f"{name}: group order changed"
    other = copy.deepcopy(model)
    with torch.no_grad():
        for p in other.parameters():
            p.add_(0.05 * torch.randn_like(p))
    same = layer_cka(model, copy.deepcopy(model), [batch])
    assert all(abs(v - 1) < 1e-6 for v in same.values()), f"{name}: a model is not identical to its copy: {same}"
    moved = layer_cka(model, other, [batch])
    assert set(moved) == set(modules)
    with pytest.raises(ValueError, match="another model"):  # groups of the reference are not the current model's
        layer_cka(model, other, [batch], groups)
    assert _hooks(model) == _hooks(other) == 0, f"{name}: hooks left behind"
    drift = weight_drift(other, snapshot(model))
    assert set(drift) == set(modules)
    assert all(d["relative_l2"] > 0 for d in drift.values()), f"{name}: {drift}"
