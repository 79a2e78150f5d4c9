"""SPLASH and splash's two architectures in PyTorch, under the project's tensor names.

Train where you have GPUs (or ``torchrun`` for several), then save a ``.safetensors`` file in
splash's format: the page's "bring your own weights" and the native CLI (``splash predict``,
``eval``, ``inspect``) load it. Files written by ``splash train`` or downloaded from the page
load here.

    import splash_torch as st
    model = st.lenet5("splash")            # or st.allcnn(16, "relu")
    ...train it...
    st.save(model, "mine.safetensors", recipe={"epochs": 10})
    model, config = st.load("www/models/lenet5-splash.safetensors")

Only the SPLASH and ReLU activations are provided (the study's other eight are Rust-only).
The constants below must equal the Rust core's (``src/model.rs``, ``src/activation``);
``python/test_splash_torch.py`` checks this module's outputs against the CLI's.
"""

from __future__ import annotations

import json
import struct
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

# The Rust core's constants (src/model.rs, src/activation/splash.rs, src/weights.rs).
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
HINGES = (0.0, 1.0, 2.0, 2.5)
FORMAT_VERSION = "1"
BN_EPS = 1e-5
BN_MOMENTUM = 0.1
ALLCNN_MAX_WIDTH = 128
LEGACY_LENET5_WIDTH = "6"  # what files of format 1 recorded as LeNet5's "width"; LeNet5 has none


class Splash(nn.Module):
    """h(x) = Σ_s a⁺_s·max(0, x − b_s) + a⁻_s·max(0, −x − b_s), b = HINGES; one set of a⁺, a⁻
    for the whole layer, initialised as ReLU (a⁺ = (1, 0, 0, 0), a⁻ = 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.a_plus = nn.Parameter(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.a_minus = nn.Parameter(torch.zeros(4))
        self.register_buffer("hinges", torch.tensor(HINGES), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(x)
        for s in range(4):
            b = self.hinges[s]
            out = out + self.a_plus[s] * torch.relu(x - b) + self.a_minus[s] * torch.relu(-x - b)
        return out


class Normalize(nn.Module):
    """(x − mean) / std: the models take pixels in [0, 1], so attacks work in pixel space."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - MNIST_MEAN) / MNIST_STD


def _activation(kind: str) -> nn.Module:
    if kind == "splash":
        return Splash()
    if kind == "relu":
        return nn.ReLU()
    raise ValueError(f"activation {kind!r}: this module has 'splash' and 'relu'")


def _bn(channels: int, dims: int) -> nn.Module:
    cls = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    return cls(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class SplashNet(nn.Sequential):
    """A splash network: named layers in order (``conv1``, ``bn1``, ``act1``, …), so that its
    state dict holds the project's tensor names. ``architecture``, ``width`` (All-CNN only,
    else None) and ``activation`` are what the file's metadata records."""

    def __init__(self, layers: "OrderedDict[str, nn.Module]", architecture: str, width: "int | None", activation: str):
        super().__init__(layers)
        self.architecture = architecture
        self.width = width
        self.activation = activation


def lenet5(activation: str = "splash") -> SplashNet:
    """LeNet5 as splash builds it (28×28 input, BatchNorm before every activation)."""
    L = OrderedDict()
    L["input"] = Normalize()
    L["conv1"] = nn.Conv2d(1, 6, 5, padding=2)
    L["bn1"], L["act1"] = _bn(6, 2), _activation(activation)
    L["pool1"] = nn.MaxPool2d(2)
    L["conv2"] = nn.Conv2d(6, 16, 5)
    L["bn2"], L["act2"] = _bn(16, 2), _activation(activation)
    L["pool2"] = nn.MaxPool2d(2)
    L["flatten"] = nn.Flatten()
    L["fc1"] = nn.Linear(400, 120)
    L["bn3"], L["act3"] = _bn(120, 1), _activation(activation)
    L["fc2"] = nn.Linear(120, 84)
    L["bn4"], L["act4"] = _bn(84, 1), _activation(activation)
    L["fc3"] = nn.Linear(84, 10)
    return SplashNet(L, "lenet5", None, activation)


class _GlobalAvgPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(2, 3))


def allcnn(width: int = 16, activation: str = "splash") -> SplashNet:
    """All-CNN-C adapted to 28×28, base width ``width`` (splash's pretrained models: 16)."""
    if not 1 <= width <= ALLCNN_MAX_WIDTH:
        raise ValueError(f"All-CNN width must be 1..={ALLCNN_MAX_WIDTH}, got {width}")
    w1, w2 = width, 2 * width
    convs = [(1, w1, 3, 1, 1), (w1, w1, 3, 1, 1), (w1, w1, 3, 2, 1), (w1, w2, 3, 1, 1), (w2, w2, 3, 1, 1),
             (w2, w2, 3, 2, 1), (w2, w2, 3, 1, 0), (w2, w2, 1, 1, 0)]
    L = OrderedDict()
    L["input"] = Normalize()
    for i, (cin, cout, k, stride, pad) in enumerate(convs, start=1):
        L[f"conv{i}"] = nn.Conv2d(cin, cout, k, stride=stride, padding=pad)
        L[f"bn{i}"], L[f"act{i}"] = _bn(cout, 2), _activation(activation)
    L["conv9"] = nn.Conv2d(w2, 10, 1)
    L["gap"] = _GlobalAvgPool()
    return SplashNet(L, "allcnn", width, activation)


def _tensors(model: nn.Module) -> "OrderedDict[str, torch.Tensor]":
    return OrderedDict((k, v) for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked"))


def save(model: SplashNet, path: str | Path, *, seed: int | None = None, recipe: dict | None = None) -> None:
    """Writes ``model`` as a splash ``.safetensors`` file (float32, the project's names and
    metadata; ``recipe`` is stored as JSON, e.g. how it was trained). Atomic: a temporary
    file is renamed into place."""
    tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in _tensors(model).items()}
    meta = {
        "format": "pt",
        "splash_format": FORMAT_VERSION,
        "architecture": model.architecture,
        "activation": model.activation,
        "hinges": json.dumps(list(HINGES)),
    }
    if model.width is not None:
        meta["width"] = str(model.width)
    if seed is not None:
        meta["seed"] = str(seed)
    if recipe is not None:
        meta["recipe"] = json.dumps(recipe)
    header: dict = {"__metadata__": meta}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        t = tensors[name]
        data = t.numpy().tobytes() if _has_numpy() else bytes(t.view(torch.uint8).flatten().tolist())
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    tmp.replace(path)


def _has_numpy() -> bool:
    try:
        import numpy  # noqa: F401
    except ImportError:
        return False
    return True


MAX_FILE_BYTES = 64 << 20


def load(path: str | Path) -> tuple[SplashNet, dict]:
    """Reads a splash ``.safetensors`` file: the network (in evaluation mode) and its metadata.
    Raises ``ValueError`` naming what is wrong with a bad file."""
    raw = Path(path).read_bytes()
    if len(raw) > MAX_FILE_BYTES:
        raise ValueError(f"{path}: {len(raw)} bytes is larger than any splash network")
    if len(raw) < 8:
        raise ValueError(f"{path}: corrupt (shorter than a safetensors header)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ValueError(f"{path}: corrupt (header length {n} beyond the file)")
    header = json.loads(raw[8 : 8 + n])
    meta = header.pop("__metadata__", None) or {}
    for key in ("architecture", "activation", "hinges"):
        if key not in meta:
            raise ValueError(f"{path}: not a splash file (metadata '{key}' missing)")
    if json.loads(meta["hinges"]) != list(HINGES):
        raise ValueError(f"{path}: hinges {meta['hinges']} differ from {list(HINGES)}")
    arch, act, width = meta["architecture"], meta["activation"], meta.get("width")
    if arch == "lenet5":
        if width not in (None, LEGACY_LENET5_WIDTH):
            raise ValueError(f"{path}: LeNet5 has no width (metadata says {width})")
        model = lenet5(act)
    elif arch == "allcnn":
        if width is None or not width.isdigit():
            raise ValueError(f"{path}: All-CNN needs its width (metadata says {width})")
        model = allcnn(int(width), act)
    else:
        raise ValueError(f"{path}: unknown architecture {arch!r}")
    body = raw[8 + n :]
    expected = _tensors(model)
    state = {}
    for name, info in header.items():
        if name not in expected:
            raise ValueError(f"{path}: unexpected tensor {name}")
        if info["dtype"] != "F32":
            raise ValueError(f"{path}: {name} is {info['dtype']}, not F32")
        a, b = info["data_offsets"]
        if not 0 <= a <= b <= len(body) or (b - a) != 4 * expected[name].numel():
            raise ValueError(f"{path}: {name} has the wrong size")
        t = torch.frombuffer(bytearray(body[a:b]), dtype=torch.float32).reshape(info["shape"])
        if list(t.shape) != list(expected[name].shape):
            raise ValueError(f"{path}: {name} has shape {list(t.shape)}, expected {list(expected[name].shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{path}: {name} holds values that are not finite")
        state[name] = t
    missing = set(expected) - set(state)
    if missing:
        raise ValueError(f"{path}: tensor {sorted(missing)[0]} missing")
    model.load_state_dict(state, strict=False)
    model.eval()
    return model, meta
