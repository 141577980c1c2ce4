#!/usr/bin/python3
"""PyTorch side of the nn tests (tests/nn_state_dict_test.cpp, tests/nn_parity_test.cpp).

  nn_reference.py names SPEC.json OUT.json
      SPEC: [{"id", "torch": expression} | {"id", "kind", "options"}]; writes
      {id: [[name, shape, dtype], ...]} of each module's state_dict.
  nn_reference.py parity DIR
      DIR/manifest.json: [{"id", "torch" | "kind"+"options", "dtype"}]. Loads
      DIR/<id>_in.safetensors ("param.<name>" weights, "input", and "target" for a
      cross-entropy loss or "upstream" for sum(out * upstream)), runs forward and backward,
      and writes DIR/<id>_torch.safetensors: "output", "loss", "grad.<name>" per
      parameter and "grad_input" for a floating input.

Models come from examples/torch_reference/models.py, the definition of the equivalent
torch.nn module; safetensors files are read and written by the PyPI safetensors package.
"""
import json
from pathlib import Path
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "examples" / "torch_reference"))
sys.path.insert(0, str(HERE))
import models  # noqa: E402
from models import build_model  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402

torch.set_num_threads(1)
DTYPES = {"f32": torch.float32, "f64": torch.float64}


def make(case):
    if "torch" in case:
        return eval(case["torch"], {"nn": nn, "torch": torch, "models": models})
    return build_model(case["kind"], case.get("options", {}))


def names(spec_path, out_path):
    out = {}
    for case in json.loads(Path(spec_path).read_text()):
        module = make(case)
        out[case["id"]] = [[k, list(v.shape), str(v.dtype).replace("torch.", "")]
                           for k, v in module.state_dict().items()]
    Path(out_path).write_text(json.dumps(out))


def tensor(array):
    return torch.from_numpy(array)


def parity(directory):
    directory = Path(directory)
    for case in json.loads((directory / "manifest.json").read_text()):
        arrays = load_file(directory / f"{case['id']}_in.safetensors")
        module = make(case).to(DTYPES[case["dtype"]])
        state = {k[len("param."):]: tensor(v) for k, v in arrays.items() if k.startswith("param.")}
        module.load_state_dict(state, strict=True)
        module.train(case.get("training", False))
        x = tensor(arrays["input"])
        if x.is_floating_point():
            x.requires_grad_(True)
        out = module(x)
        if "target" in arrays:
            loss = F.cross_entropy(out.reshape(-1, out.shape[-1]), tensor(arrays["target"]).reshape(-1))
        else:
            loss = (out * tensor(arrays["upstream"])).sum()
        loss.backward()
        result = {"output": out.detach().numpy(), "loss": loss.detach().numpy()}
        for name, p in module.named_parameters():
            result["grad." + name] = p.grad.numpy()
        if x.requires_grad:
            result["grad_input"] = x.grad.numpy()
        save_file(result, directory / f"{case['id']}_torch.safetensors")


def main():
    command = sys.argv[1]
    if command == "names":
        names(sys.argv[2], sys.argv[3])
    elif command == "parity":
        parity(sys.argv[2])
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
