#!/usr/bin/python3
"""layer_table.py - the per-layer table of a published network, the scaling model's input.

For ResNet-50/101/152, Inception V3 and VGG-16 (torchvision's definitions, Debian's
python3-torchvision) this records, in the order the forward pass runs them, every layer
that holds parameters: its name, parameter count and forward FLOPs for one image
(2 x multiply-adds for convolutions and linear layers, 4 per element for batch norm).
The scaling model spreads a step's measured or published compute time over the layers in
proportion to these FLOPs and launches each gradient bucket when backward has passed the
layers it holds. Generated once and committed (bench/scaling/models/*.json), so the model
itself needs only the standard library:

  /usr/bin/python3 bench/scaling/layer_table.py [--out-dir bench/scaling/models]
"""
import argparse
import json
import os

import torch
import torchvision

# name, constructor, input size (the networks' published training resolution)
# ResNet-50 and -152 are there for their FLOPs: the published single-GPU figures the model
# interpolates ResNet-101's from.
NETWORKS = [
    ("resnet50", lambda: torchvision.models.resnet50(), 224),
    ("resnet101", lambda: torchvision.models.resnet101(), 224),
    ("resnet152", lambda: torchvision.models.resnet152(), 224),
    ("inception_v3", lambda: torchvision.models.inception_v3(aux_logits=False, init_weights=False), 299),
    ("vgg16", lambda: torchvision.models.vgg16(), 224),
]


def layer_flops(module, inputs, output):
    if isinstance(module, torch.nn.Conv2d):
        macs_per_output = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
        return 2 * macs_per_output * output.numel()
    if isinstance(module, torch.nn.Linear):
        return 2 * module.in_features * output.numel()
    if isinstance(module, torch.nn.BatchNorm2d):
        return 4 * output.numel()
    raise ValueError(f"no FLOP rule for {type(module).__name__}")


def table(name, make, size):
    model = make().eval()
    rows = []
    hooks = []
    for layer_name, module in model.named_modules():
        own = list(module.parameters(recurse=False))
        if not own:
            continue
        def record(m, inputs, output, layer_name=layer_name, own=own):
            rows.append({"name": layer_name, "type": type(m).__name__,
                         "params": sum(p.numel() for p in own), "forward_flops": layer_flops(m, inputs, output)})
        hooks.append(module.register_forward_hook(record))
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    total = sum(p.numel() for p in model.parameters())
    if sum(r["params"] for r in rows) != total:
        raise SystemExit(f"layer_table.py: {name}: the layers hold {sum(r['params'] for r in rows)} of {total} parameters")
    return {"network": name, "source": f"torchvision {torchvision.__version__} models.{name}",
            "input": [3, size, size], "params": total,
            "forward_flops_per_image": sum(r["forward_flops"] for r in rows), "layers": rows}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "models"))
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    for name, make, size in NETWORKS:
        t = table(name, make, size)
        path = os.path.join(args.out_dir, f"{name}.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(t, f, indent=1)
            f.write("\n")
        print(f"{path}: {t['params']:,} parameters in {len(t['layers'])} layers, "
              f"{t['forward_flops_per_image'] / 1e9:.2f} GFLOP forward per image")


if __name__ == "__main__":
    main()
