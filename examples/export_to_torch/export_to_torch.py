#!/usr/bin/python3
"""Torus -> PyTorch: train briefly, export the weights, load them into the equivalent
torch.nn module with strict=True, run inference, and compare with Torus.

  export_to_torch.py demo --torus TORUS [--workdir DIR] [--steps N]
      Trains configs/fashion_mnist_mlp.yaml for N steps (default 200) into DIR, exports
      the run with `torus ckpt export`, loads the export into models.MLP strictly,
      evaluates the Fashion-MNIST test split in PyTorch, and checks the loss and accuracy
      against `torus eval` of the same file. Exit status 1 if they differ.
  export_to_torch.py logits EXPORT.safetensors INPUTS.safetensors OUT.safetensors
      Builds the torch module from the config stored in EXPORT (its "torus_config"
      metadata), loads EXPORT strictly, and writes the logits of INPUTS's tensor "inputs"
      as OUT's tensor "logits". EXPORT may be sharded (EXPORT.index.json).

Needs only Debian's python3-torch, python3-numpy and python3-yaml: safetensors files are
read and written here directly (the format is a length, a JSON header and the bytes).
"""
import argparse
import gzip
import json
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import yaml

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "torch_reference"))
from models import build_model, model_options  # noqa: E402

DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
          "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8}


def read_safetensors(path):
    """(tensors by name, __metadata__) of one file."""
    data = Path(path).read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    body = bytearray(data[8 + length:])
    tensors = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        dtype = DTYPES[spec["dtype"]]
        count = (end - begin) // torch.empty((), dtype=dtype).element_size()
        flat = torch.frombuffer(body, dtype=dtype, count=count, offset=begin) if count else torch.empty(0, dtype=dtype)
        tensors[name] = flat.reshape(spec["shape"]).clone()
    return tensors, metadata


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        blob = t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        dtype = next(k for k, v in DTYPES.items() if v == t.dtype)
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    Path(path).write_bytes(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def read_export(path):
    """An export's weights and metadata: OUT.safetensors, or its shards via OUT.index.json."""
    path = Path(path)
    index = Path(str(path) + ".index.json")
    if path.exists():
        return read_safetensors(path)
    weight_map = json.loads(index.read_text())["weight_map"]
    tensors, metadata = {}, {}
    for shard in sorted(set(weight_map.values())):
        part, metadata = read_safetensors(path.parent / shard)
        tensors.update(part)
    return tensors, metadata


def load_module(path):
    """The torch.nn module the export came from, with the export loaded strictly."""
    weights, metadata = read_export(path)
    config = yaml.safe_load(metadata["torus_config"])
    model = build_model(*model_options(config))
    model.load_state_dict(weights, strict=True)  # every name and shape, no key missing or left over
    return model.eval(), config


def read_idx(path):
    data = gzip.open(path, "rb").read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def fashion_mnist_test(config):
    """The test split, prepared as Torus's eval set (inputs (N, 1, 28, 28), labels)."""
    directory = Path(config["data"]["path"])
    x = torch.from_numpy(read_idx(directory / "t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0).unsqueeze(1)
    if config["data"]["normalize"]:
        x = (x - 0.2860) / 0.3530
    return x, torch.from_numpy(read_idx(directory / "t10k-labels-idx1-ubyte.gz").astype(np.int64))


def run(command):
    print("$", " ".join(str(c) for c in command), flush=True)
    return subprocess.run([str(c) for c in command], check=True, stdout=subprocess.PIPE, text=True).stdout


def demo(args):
    workdir = Path(args.workdir).resolve()
    config_file = HERE.parent.parent / "configs" / "fashion_mnist_mlp.yaml"
    run([args.torus, "train", config_file, f"trainer.steps={args.steps}", f"schedule.warmup_steps={args.steps // 4}",
         f"trainer.run_dir={workdir}", "name=export_demo", f"checkpoint.every_steps={args.steps}",
         f"trainer.log_every={max(1, args.steps // 4)}"])
    export = workdir / "fashion_mnist_mlp.safetensors"
    print(run([args.torus, "ckpt", "export", workdir / "export_demo", export]), end="")

    model, config = load_module(export)
    x, y = fashion_mnist_test(config)
    with torch.no_grad():
        logits = model(x)
    loss = F.cross_entropy(logits.double(), y).item()
    accuracy = (logits.argmax(1) == y).double().mean().item()
    print(f"PyTorch: eval loss {loss:.6f}, accuracy {100 * accuracy:.2f}% over {len(y)} samples")

    # `torus eval` of the same file, with the config the export carries.
    config_copy = workdir / "exported_config.yaml"
    config_copy.write_text(read_export(export)[1]["torus_config"])
    torus = json.loads(run([args.torus, "eval", config_copy, "--checkpoint", export, "--json"]))
    print(f"Torus:   eval loss {torus['eval_loss']:.6f}, accuracy {100 * torus['eval_accuracy']:.2f}%"
          f" over {torus['samples']} samples")
    agree = abs(torus["eval_loss"] - loss) <= 1e-5 * max(1.0, abs(loss)) and abs(torus["eval_accuracy"] - accuracy) <= 1e-4
    print("they agree" if agree else "they DIFFER")
    return 0 if agree else 1


def logits(args):
    model, _ = load_module(args.export)
    inputs, _ = read_safetensors(args.inputs)
    with torch.no_grad():
        out = model(inputs["inputs"])
    write_safetensors(args.out, {"logits": out})
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    d = commands.add_parser("demo")
    d.add_argument("--torus", default="torus", help="the torus binary")
    d.add_argument("--workdir", default="runs/export_to_torch")
    d.add_argument("--steps", type=int, default=200)
    g = commands.add_parser("logits")
    g.add_argument("export")
    g.add_argument("inputs")
    g.add_argument("out")
    args = parser.parse_args()
    try:
        return demo(args) if args.command == "demo" else logits(args)
    except subprocess.CalledProcessError as e:  # torus said why on stderr
        print(f"export_to_torch.py: {e.cmd[0]} {e.cmd[1]} failed with status {e.returncode}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
