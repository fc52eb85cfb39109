#!/usr/bin/python3
"""Generate the model fixtures in test/fixtures/models/ from PyTorch reference definitions.

Run with Debian's interpreter (the one python3-torch is installed for):

    /usr/bin/python3 scripts/make_model_fixtures.py

The reference models below are written from the public code layouts our TypeScript models
(nn/models/*.ts) mirror, parametrised by width/depth so that small variants exist:

- ResNet18: kuangliu/pytorch-cifar (BasicBlock, `shortcut` = Sequential(conv1x1, bn) or empty
  Sequential, 4x4 average pool, `linear` head);
- PreActResNet18: Rice et al.'s robust-overfitting code (kuangliu's PreActBlock, whose projection
  `shortcut` = Sequential(conv1x1) reads relu(bn1(x)), plus a final `bn` before relu + 4x4 pool);
- WideResNet: TRADES / RobustBench (conv1, block1-3 = NetworkBlock with a `layer` Sequential of
  BasicBlocks bn1 relu1 conv1 bn2 relu2 conv2 [convShortcut], final bn1 relu fc, 8x8 average pool,
  He-normal fan-out init); without TRADES's unused `sub_block1` (see the note at WideResNet);
- TRADES SmallCNN (feature_extractor / classifier OrderedDicts).

Outputs (all deterministic: torch runs single-threaded, every draw comes from a seeded generator,
floats are written as Python reprs, which round-trip exactly):

- param_counts.json: parameter counts of the full-size models (10 classes) and, for resnet18 and
  wrn-16-4, every state_dict key (buffers included) with its shape, in state_dict order;
- <name>.safetensors: the state_dict of a small model (float32; num_batches_tracked as I64), in
  state_dict order, with random weights and non-trivial BN statistics / affine parameters;
- input.safetensors: the input batch `x` [2, 3, 32, 32] float32 in [0, 1], shared by all small
  models (kept out of the model files so they load strictly);
- <name>.expected.json: logits computed in float64 (the float32 weights and input converted
  exactly) in eval mode and in train mode (batch statistics), and the running statistics of the
  first BatchNorm (in state_dict order) after the train-mode forward (momentum 0.1, unbiased
  variance in the update as PyTorch).
"""

import collections
import json
import math
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

torch.set_num_threads(1)
torch.manual_seed(0)  # nothing should use the global generator; pin it anyway

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures", "models")
GENERATOR = "scripts/make_model_fixtures.py (PyTorch %s)" % torch.__version__


# ----------------------------------------------------------------------------
# Reference models
# ----------------------------------------------------------------------------

class BasicBlock(nn.Module):
    """kuangliu/pytorch-cifar models/resnet.py BasicBlock."""
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(self.expansion * planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out = out + self.shortcut(x)
        return F.relu(out)


class ResNet(nn.Module):
    """kuangliu/pytorch-cifar models/resnet.py ResNet; `width` = channels of the first stage (64)."""

    def __init__(self, block, num_blocks, num_classes=10, width=64):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.layer1 = self._make_layer(block, width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * width, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, num_blocks[3], stride=2)
        self.linear = nn.Linear(8 * width * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def ResNet18(num_classes=10, width=64):
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes, width)


class PreActBlock(nn.Module):
    """kuangliu/pytorch-cifar models/preact_resnet.py PreActBlock (as in Rice et al.)."""
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        if stride != 1 or in_planes != self.expansion * planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, self.expansion * planes, kernel_size=1, stride=stride, bias=False)
            )

    def forward(self, x):
        out = F.relu(self.bn1(x))
        shortcut = self.shortcut(out) if hasattr(self, "shortcut") else x
        out = self.conv1(out)
        out = self.conv2(F.relu(self.bn2(out)))
        return out + shortcut


class PreActResNet(nn.Module):
    """Rice et al. (robust overfitting) preactresnet.py: kuangliu's PreActResNet plus a final `bn`."""

    def __init__(self, block, num_blocks, num_classes=10, width=64):
        super().__init__()
        self.in_planes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.layer1 = self._make_layer(block, width, num_blocks[0], stride=1)
        self.layer2 = self._make_layer(block, 2 * width, num_blocks[1], stride=2)
        self.layer3 = self._make_layer(block, 4 * width, num_blocks[2], stride=2)
        self.layer4 = self._make_layer(block, 8 * width, num_blocks[3], stride=2)
        self.bn = nn.BatchNorm2d(8 * width * block.expansion)
        self.linear = nn.Linear(8 * width * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        strides = [stride] + [1] * (num_blocks - 1)
        layers = []
        for s in strides:
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = self.conv1(x)
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.relu(self.bn(out))
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def PreActResNet18(num_classes=10, width=64):
    return PreActResNet(PreActBlock, [2, 2, 2, 2], num_classes, width)


class WideBasicBlock(nn.Module):
    """TRADES models/wideresnet.py BasicBlock."""

    def __init__(self, in_planes, out_planes, stride, drop_rate=0.0):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_planes)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_planes)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(out_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.droprate = drop_rate
        self.equalInOut = in_planes == out_planes
        self.convShortcut = (not self.equalInOut) and nn.Conv2d(
            in_planes, out_planes, kernel_size=1, stride=stride, padding=0, bias=False) or None

    def forward(self, x):
        if not self.equalInOut:
            x = self.relu1(self.bn1(x))
        else:
            out = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(out if self.equalInOut else x)))
        if self.droprate > 0:
            out = F.dropout(out, p=self.droprate, training=self.training)
        out = self.conv2(out)
        return torch.add(x if self.equalInOut else self.convShortcut(x), out)


class NetworkBlock(nn.Module):
    def __init__(self, nb_layers, in_planes, out_planes, block, stride, drop_rate=0.0):
        super().__init__()
        layers = []
        for i in range(int(nb_layers)):
            layers.append(block(i == 0 and in_planes or out_planes, out_planes, i == 0 and stride or 1, drop_rate))
        self.layer = nn.Sequential(*layers)

    def forward(self, x):
        return self.layer(x)


class WideResNet(nn.Module):
    """TRADES / RobustBench WideResNet, without TRADES's `sub_block1`.

    TRADES's wideresnet.py also builds `self.sub_block1 = NetworkBlock(n, 16, 16k, block, 1)` between
    block1 and block2; forward never uses it, but its weights are in TRADES (and MART, AWP, ...)
    checkpoints. RobustBench's definition makes it optional (sub_block1=False by default) and drops
    those keys when converting. Our TypeScript model has no sub_block1, as this reference.
    """

    def __init__(self, depth=34, num_classes=10, widen_factor=10, drop_rate=0.0):
        super().__init__()
        n_channels = [16, 16 * widen_factor, 32 * widen_factor, 64 * widen_factor]
        assert (depth - 4) % 6 == 0
        n = (depth - 4) // 6
        block = WideBasicBlock
        self.conv1 = nn.Conv2d(3, n_channels[0], kernel_size=3, stride=1, padding=1, bias=False)
        self.block1 = NetworkBlock(n, n_channels[0], n_channels[1], block, 1, drop_rate)
        self.block2 = NetworkBlock(n, n_channels[1], n_channels[2], block, 2, drop_rate)
        self.block3 = NetworkBlock(n, n_channels[2], n_channels[3], block, 2, drop_rate)
        self.bn1 = nn.BatchNorm2d(n_channels[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(n_channels[3], num_classes)
        self.nChannels = n_channels[3]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.data.normal_(0, math.sqrt(2.0 / fan_out))
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.data.fill_(1)
                m.bias.data.zero_()
            elif isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, x):
        out = self.conv1(x)
        out = self.block1(out)
        out = self.block2(out)
        out = self.block3(out)
        out = self.relu(self.bn1(out))
        out = F.avg_pool2d(out, 8)
        out = out.view(-1, self.nChannels)
        return self.fc(out)


class TradesSmallCNN(nn.Module):
    """TRADES models/small_cnn.py SmallCNN (28x28 grey input)."""

    def __init__(self, drop=0.5, num_classes=10):
        super().__init__()
        activ = nn.ReLU(True)
        self.feature_extractor = nn.Sequential(collections.OrderedDict([
            ("conv1", nn.Conv2d(1, 32, 3)),
            ("relu1", activ),
            ("conv2", nn.Conv2d(32, 32, 3)),
            ("relu2", activ),
            ("maxpool1", nn.MaxPool2d(2, 2)),
            ("conv3", nn.Conv2d(32, 64, 3)),
            ("relu3", activ),
            ("conv4", nn.Conv2d(64, 64, 3)),
            ("relu4", activ),
            ("maxpool2", nn.MaxPool2d(2, 2)),
        ]))
        self.classifier = nn.Sequential(collections.OrderedDict([
            ("fc1", nn.Linear(64 * 4 * 4, 200)),
            ("relu1", activ),
            ("drop", nn.Dropout(drop)),
            ("fc2", nn.Linear(200, 200)),
            ("relu2", activ),
            ("fc3", nn.Linear(200, num_classes)),
        ]))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.constant_(m.bias, 0)
        nn.init.constant_(self.classifier.fc3.weight, 0)
        nn.init.constant_(self.classifier.fc3.bias, 0)

    def forward(self, x):
        features = self.feature_extractor(x)
        return self.classifier(features.view(-1, 64 * 4 * 4))


# ----------------------------------------------------------------------------
# safetensors, written and read by hand from the format's definition
# ----------------------------------------------------------------------------

# dtype -> (safetensors name, struct code, bytes per element)
ST_DTYPES = {torch.float32: ("F32", "f", 4), torch.float64: ("F64", "d", 8), torch.int64: ("I64", "q", 8)}
ST_BY_NAME = {v[0]: (k, v[1], v[2]) for k, v in ST_DTYPES.items()}


def tensor_bytes(t):
    """Raw little-endian bytes of a contiguous CPU tensor (struct packing: no numpy dependence)."""
    name, code, _ = ST_DTYPES[t.dtype]
    values = t.detach().contiguous().reshape(-1).tolist()
    return struct.pack("<%d%s" % (len(values), code), *values)


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, tensor) in the order to store; metadata: {str: str}."""
    header = collections.OrderedDict()
    header["__metadata__"] = collections.OrderedDict(metadata)
    blobs = []
    off = 0
    for name, t in tensors:
        b = tensor_bytes(t)
        header[name] = collections.OrderedDict([
            ("dtype", ST_DTYPES[t.dtype][0]), ("shape", list(t.shape)), ("data_offsets", [off, off + len(b)])])
        blobs.append(b)
        off += len(b)
    js = json.dumps(header, separators=(",", ":")).encode("utf-8")
    js += b" " * ((8 - len(js) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(js)))
        f.write(js)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """Returns (list of (name, tensor) in header order, metadata)."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack_from("<Q", buf, 0)
    assert n % 8 == 0, "header not padded to 8"
    header = json.loads(buf[8:8 + n].decode("utf-8"), object_pairs_hook=collections.OrderedDict)
    start = 8 + n
    out = []
    expect_off = 0
    for name, e in header.items():
        if name == "__metadata__":
            continue
        dtype, code, size = ST_BY_NAME[e["dtype"]]
        b, end = e["data_offsets"]
        count = math.prod(e["shape"])
        assert b == expect_off and end - b == count * size, name
        expect_off = end
        vals = struct.unpack_from("<%d%s" % (count, code), buf, start + b)
        out.append((name, torch.tensor(vals, dtype=dtype).reshape(e["shape"])))
    assert start + expect_off == len(buf), "trailing bytes"
    return out, header.get("__metadata__", {})


# ----------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------

def full_size_models():
    return collections.OrderedDict([
        ("resnet18", lambda: ResNet18()),
        ("preact_resnet18", lambda: PreActResNet18()),
        ("wrn-28-10", lambda: WideResNet(depth=28, widen_factor=10)),
        ("wrn-34-10", lambda: WideResNet(depth=34, widen_factor=10)),
        ("wrn-16-4", lambda: WideResNet(depth=16, widen_factor=4)),
        ("trades_smallcnn", lambda: TradesSmallCNN()),
    ])


KEYS_FOR = ("resnet18", "wrn-16-4")


def param_counts():
    out = collections.OrderedDict()
    out["generator"] = GENERATOR
    out["note"] = ("counts: sum of numel over parameters() (buffers excluded), 10 classes; keys: every "
                   "state_dict entry (buffers included) as [name, shape], in state_dict order")
    counts = collections.OrderedDict()
    keys = collections.OrderedDict()
    for name, make in full_size_models().items():
        m = make()
        counts[name] = sum(p.numel() for p in m.parameters())
        if name in KEYS_FOR:
            keys[name] = [[k, list(v.shape)] for k, v in m.state_dict().items()]
    out["counts"] = counts
    out["keys"] = keys
    return out


def randomise(model, g):
    """Random weights, and BN affine parameters / running statistics far from their defaults, so that
    eval mode (running statistics) and train mode (batch statistics) give clearly different logits."""
    with torch.no_grad():
        for name, m in model.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                # He-uniform-ish scale keeps activations O(1) through the depth.
                bound = math.sqrt(6.0 / fan_in)
                m.weight.copy_((torch.rand(m.weight.shape, generator=g, dtype=torch.float64) * 2 - 1) * bound)
                if m.bias is not None:
                    m.bias.copy_(torch.randn(m.bias.shape, generator=g, dtype=torch.float64) * 0.1)
            elif isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.weight.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                m.bias.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.1)
                m.running_mean.copy_(torch.randn(c, generator=g, dtype=torch.float64) * 0.1)
                m.running_var.copy_(0.5 + torch.rand(c, generator=g, dtype=torch.float64))
                # A count other than 0 shows that loaders keep it (momentum is not None, so it does
                # not affect the update).
                m.num_batches_tracked.fill_(int(torch.randint(1, 1000, (1,), generator=g)))


SMALL = collections.OrderedDict([
    ("resnet18_w8", dict(make=lambda: ResNet18(width=8), seed=1001,
                         ts="new ResNet18({ width: 8 })", ref="kuangliu ResNet18, width 8 (8-16-32-64)")),
    ("preact_resnet18_w8", dict(make=lambda: PreActResNet18(width=8), seed=1002,
                                ts="new PreActResNet18({ width: 8 })", ref="Rice et al. PreActResNet18, width 8")),
    # WRN-16-1 (16-16-32-64, two blocks per group) rather than WRN-10-2: WRN-10-2 is 1.2 MB at float32
    # and, with one block per group, every block changes width, so the identity (equalInOut) path
    # would go untested. WRN-16-1 has both: group 1 is identity only, groups 2-3 start with a strided
    # convShortcut block followed by an identity block.
    ("wrn-16-1", dict(make=lambda: WideResNet(depth=16, widen_factor=1), seed=1003,
                      ts="new WideResNet({ depth: 16, widenFactor: 1 })", ref="TRADES WideResNet-16-1")),
])


def tensor_json(t):
    t = t.detach().to(torch.float64)
    return collections.OrderedDict([("shape", list(t.shape)), ("data", t.reshape(-1).tolist())])


def make_input():
    g = torch.Generator().manual_seed(2024)
    u = torch.rand((2, 3, 32, 32), generator=g, dtype=torch.float64)
    return u.to(torch.float32)


def first_bn(model):
    """Key prefix of the first BatchNorm2d in state_dict order."""
    for k in model.state_dict():
        if k.endswith(".running_mean") or k == "running_mean":
            return k[: -len(".running_mean")]
    raise ValueError("no BatchNorm")


def small_fixture(name, spec, x, out_dir):
    g = torch.Generator().manual_seed(spec["seed"])
    model = spec["make"]()
    randomise(model, g)
    model.float()
    sd = model.state_dict()
    # The model is float32 here; the file holds exactly these values.
    entries = list(sd.items())
    for k, v in entries:
        assert v.dtype == (torch.int64 if k.endswith("num_batches_tracked") else torch.float32), (k, v.dtype)
    path = os.path.join(out_dir, name + ".safetensors")
    write_safetensors(path, entries, collections.OrderedDict([
        ("format", "pt"), ("generator", GENERATOR), ("reference", spec["ref"]), ("typescript", spec["ts"]),
        ("seed", str(spec["seed"]))]))

    # Read back with our own reader: same names, order, dtypes, shapes, values (bit-exact).
    back, meta = read_safetensors(path)
    assert [k for k, _ in back] == list(sd.keys()) == [k for k, _ in model.state_dict().items()]
    for (k, t), (k2, v) in zip(back, entries):
        assert k == k2 and t.dtype == v.dtype and t.shape == v.shape and torch.equal(t, v), k
    assert meta["typescript"] == spec["ts"]

    # Expected values in float64 from the exact float32 values.
    m64 = spec["make"]()
    m64.load_state_dict(sd)
    m64.double()
    x64 = x.to(torch.float64)
    bn = first_bn(m64)
    with torch.no_grad():
        m64.eval()
        eval_logits = m64(x64)
        m64.train()
        train_logits = m64(x64)
    st = m64.state_dict()
    assert not torch.allclose(eval_logits, train_logits, rtol=1e-3, atol=1e-3), "eval and train too close"
    expected = collections.OrderedDict([
        ("generator", GENERATOR),
        ("model", spec["ts"]),
        ("reference", spec["ref"]),
        ("weights", name + ".safetensors"),
        ("input", collections.OrderedDict([("file", "input.safetensors"), ("name", "x")])),
        ("note", "logits in float64 from the float32 weights and input; train mode uses batch statistics "
                 "(biased variance) and updates running statistics with momentum 0.1 and the unbiased "
                 "batch variance; train_first_bn is the first BatchNorm in state_dict order after that "
                 "one train-mode forward"),
        ("eval_logits", tensor_json(eval_logits)),
        ("train_logits", tensor_json(train_logits)),
        ("train_first_bn", collections.OrderedDict([
            ("name", bn),
            ("running_mean", st[bn + ".running_mean"].tolist()),
            ("running_var", st[bn + ".running_var"].tolist()),
            ("num_batches_tracked", int(st[bn + ".num_batches_tracked"])),
            ("running_mean_before", sd[bn + ".running_mean"].double().tolist()),
            ("running_var_before", sd[bn + ".running_var"].double().tolist()),
        ])),
    ])
    with open(os.path.join(out_dir, name + ".expected.json"), "w") as f:
        json.dump(expected, f, indent=None, separators=(",", ":"))
        f.write("\n")
    return bn


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else OUT_DIR
    os.makedirs(out_dir, exist_ok=True)

    with open(os.path.join(out_dir, "param_counts.json"), "w") as f:
        json.dump(param_counts(), f, separators=(",", ":"))
        f.write("\n")

    x = make_input()
    path = os.path.join(out_dir, "input.safetensors")
    write_safetensors(path, [("x", x)], collections.OrderedDict([
        ("generator", GENERATOR), ("note", "input batch of the small model fixtures, U[0,1)")]))
    back, _ = read_safetensors(path)
    assert len(back) == 1 and back[0][0] == "x" and torch.equal(back[0][1], x)

    for name, spec in SMALL.items():
        bn = small_fixture(name, spec, x, out_dir)
        print("%s: first BN '%s'" % (name, bn))
    for f in sorted(os.listdir(out_dir)):
        print("%8d  %s" % (os.path.getsize(os.path.join(out_dir, f)), f))


if __name__ == "__main__":
    main()
