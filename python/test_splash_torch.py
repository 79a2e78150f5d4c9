"""Checks splash_torch against the Rust CLI: the committed models give the CLI's probabilities
in PyTorch, a file saved from PyTorch gives PyTorch's probabilities in the CLI, and bad files
are refused. Needs torch and the CLI (``cargo build --release --features cli``):

    python python/test_splash_torch.py

scripts/test.sh installs torch into ``.venv-torch`` (scripts/setup.sh --torch) and runs it
with that interpreter. Where torch is not installed it prints SKIPPED and exits 0, except
under ``CI=true``, where it fails.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

try:
    import torch
except ImportError:
    import os

    if os.environ.get("CI") == "true":
        print("FAILED python/test_splash_torch.py: torch is not installed for", sys.executable,
              "(scripts/setup.sh --torch installs it)")
        sys.exit(1)
    print("SKIPPED python/test_splash_torch.py: torch is not installed for", sys.executable)
    sys.exit(0)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import splash_torch as st  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CLI = ROOT / "target" / "release" / "splash"
MODELS = ROOT / "www" / "models"


def digits(n: int) -> torch.Tensor:
    """The page's held-out digits if built, else seeded random strokes: (n, 1, 28, 28)."""
    held = ROOT / "www" / "data" / "heldout-images.bin"
    if held.exists():
        raw = torch.frombuffer(bytearray(held.read_bytes()[: n * 784]), dtype=torch.uint8)
        return raw.float().div(255).reshape(n, 1, 28, 28)
    g = torch.Generator().manual_seed(3)
    return (torch.rand(n, 1, 28, 28, generator=g) > 0.8).float()


def cli_predict(weights: Path, x: torch.Tensor) -> torch.Tensor:
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "pixels.json"
        f.write_text(json.dumps(x.reshape(len(x), 784).tolist()))
        out = subprocess.run([str(CLI), "predict", "--weights", str(weights), "--pixels", str(f)],
                             check=True, capture_output=True, text=True).stdout
    return torch.tensor(json.loads(out))


def torch_predict(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.softmax(model.eval()(x), dim=1)


class SplashTorch(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        if not CLI.exists():
            raise unittest.SkipTest(f"{CLI} is not built (cargo build --release --features cli)")

    def test_splash_unit_is_relu_at_init_grounded_and_continuous(self):
        s = st.Splash()
        x = torch.linspace(-4, 4, 801)
        self.assertTrue(torch.equal(s(x), torch.relu(x)))
        s.a_plus.data = torch.tensor([0.5, -1.0, 2.0, 0.3])
        s.a_minus.data = torch.tensor([0.2, 0.7, -0.4, 1.1])
        self.assertEqual(s(torch.zeros(1)).item(), 0.0)
        for b in st.HINGES:
            for h in (b, -b):
                left, right = s(torch.tensor([h - 1e-4])), s(torch.tensor([h + 1e-4]))
                self.assertLess((left - right).abs().item(), 1e-2)

    def test_committed_models_give_the_clis_probabilities(self):
        x = digits(64)
        for name in ["lenet5-splash", "lenet5-relu", "allcnn-splash", "allcnn-relu", "lenet5-splash-adv"]:
            with self.subTest(model=name):
                model, meta = st.load(MODELS / f"{name}.safetensors")
                self.assertEqual(f"{meta['architecture']}-{meta['activation']}", name.removesuffix("-adv"))
                ours, cli = torch_predict(model, x), cli_predict(MODELS / f"{name}.safetensors", x)
                self.assertLess((ours - cli).abs().max().item(), 1e-4)
                self.assertTrue(torch.equal(ours.argmax(1), cli.argmax(1)))

    def test_a_file_trained_in_pytorch_is_read_by_the_cli(self):
        torch.manual_seed(0)
        for model in [st.lenet5("splash"), st.allcnn(4, "relu")]:
            with self.subTest(model=model.architecture):
                # A few steps, so that weights, BatchNorm statistics and a⁺/a⁻ all move.
                opt = torch.optim.SGD(model.parameters(), lr=0.1)
                x = digits(32)
                y = torch.arange(32) % 10
                model.train()
                for _ in range(5):
                    loss = torch.nn.functional.cross_entropy(model(x), y)
                    opt.zero_grad()
                    loss.backward()
                    opt.step()
                with tempfile.TemporaryDirectory() as d:
                    path = Path(d) / "mine.safetensors"
                    st.save(model, path, seed=0, recipe={"trained_with": "test"})
                    ours, cli = torch_predict(model, x), cli_predict(path, x)
                    self.assertLess((ours - cli).abs().max().item(), 1e-4)
                    info = subprocess.run([str(CLI), "inspect", str(path)], check=True, capture_output=True, text=True).stdout
                    self.assertIn(f"model         {model.architecture}-{model.activation}", info)
                    again, meta = st.load(path)
                    self.assertEqual(json.loads(meta["recipe"]), {"trained_with": "test"})
                    for (k, a), (_, b) in zip(st._tensors(model).items(), st._tensors(again).items()):
                        self.assertTrue(torch.equal(a, b), k)

    def test_bad_files_are_refused_with_a_reason(self):
        good = (MODELS / "lenet5-relu.safetensors").read_bytes()
        cases = {
            b"garbage": "corrupt",
            good.replace(b'"architecture":"lenet5"', b'"architecture":"resnet"'): "unknown architecture",
            good[:-100]: "wrong size",
        }
        with tempfile.TemporaryDirectory() as d:
            for i, (data, says) in enumerate(cases.items()):
                path = Path(d) / f"bad{i}.safetensors"
                path.write_bytes(data)
                with self.assertRaises(ValueError) as e:
                    st.load(path)
                self.assertIn(says, str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
