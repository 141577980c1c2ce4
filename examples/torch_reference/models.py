#!/usr/bin/python3
"""PyTorch modules equivalent to Torus's model zoo (framework/nn/models.h).

"Equivalent" means: the same state_dict keys, shapes and layouts, and the same forward
computation, so weights exported by Torus load with load_state_dict(strict=True) and give
the same outputs (checked by tests/nn_parity_test.cpp). build_model() takes the option
fields with the names of the C++ structs MlpOptions, CnnOptions and GptOptions.

  MLP  nn.Sequential of Linear/activation ("0", "2", ... are the Linear layers); inputs
       (N, *) are flattened first.
  CNN  nn.Sequential: per stage Conv2d, activation, pool; Flatten; Linear stack.
  GPT  GPT-2 layout: wte, wpe, drop, h.{i}.{ln_1, attn.{c_attn, c_proj}, ln_2,
       mlp.{c_fc, c_proj}}, ln_f, and lm_head unless the head is tied to wte (then the
       weight exists once, as wte.weight).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "gelu_tanh": lambda: nn.GELU(approximate="tanh"),
    "tanh": nn.Tanh,
}


class MLP(nn.Sequential):
    def __init__(self, in_features=784, hidden=(1024, 1024), classes=10, activation="relu"):
        layers, width = [], in_features
        for h in hidden:
            layers += [nn.Linear(width, h), ACTIVATIONS[activation]()]
            width = h
        layers.append(nn.Linear(width, classes))
        super().__init__(*layers)

    def forward(self, x):
        return super().forward(x.flatten(1) if x.dim() > 2 else x)


W3_STAGES = ({"channels": 32, "kernel": 3, "pool": "max"}, {"channels": 64, "kernel": 3, "pool": "max"})


def CNN(in_channels=1, height=28, width=28, stages=W3_STAGES, hidden=(128,), classes=10, fc_relu=False,
        activation="relu"):
    """Conv stages (Conv2d -> activation -> pool), Flatten, Linear stack, as one Sequential."""
    layers, channels = [], in_channels
    for s in stages:
        kernel, stride, padding = s.get("kernel", 3), s.get("stride", 1), s.get("padding", 0)
        layers += [nn.Conv2d(channels, s["channels"], kernel, stride=stride, padding=padding),
                   ACTIVATIONS[activation]()]
        height = (height + 2 * padding - kernel) // stride + 1
        width = (width + 2 * padding - kernel) // stride + 1
        pool, pool_kernel = s.get("pool", "max"), s.get("pool_kernel", 2)
        if pool != "none":
            layers.append(nn.MaxPool2d(pool_kernel) if pool == "max" else nn.AvgPool2d(pool_kernel))
            height, width = height // pool_kernel, width // pool_kernel
        channels = s["channels"]
    layers.append(nn.Flatten())
    features = channels * height * width
    for h in hidden:
        layers.append(nn.Linear(features, h))
        if fc_relu:
            layers.append(ACTIVATIONS[activation]())
        features = h
    layers.append(nn.Linear(features, classes))
    return nn.Sequential(*layers)


class CausalSelfAttention(nn.Module):
    """Fused q|k|v projection c_attn, output projection c_proj; matmul + mask + softmax."""

    def __init__(self, d_model, heads, context, dropout=0.0):
        super().__init__()
        self.heads = heads
        self.c_attn = nn.Linear(d_model, 3 * d_model)
        self.c_proj = nn.Linear(d_model, d_model)
        self.attn_dropout = nn.Dropout(dropout)
        self.resid_dropout = nn.Dropout(dropout)
        mask = torch.triu(torch.ones(context, context, dtype=torch.bool), diagonal=1)
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x):
        B, T, C = x.shape
        D = C // self.heads
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, D).transpose(1, 2) for t in (q, k, v))  # (B, H, T, D)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(D))
        scores = scores.masked_fill(self.mask[:T, :T], float("-inf"))
        y = self.attn_dropout(F.softmax(scores, dim=-1)) @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class TransformerMlp(nn.Module):
    def __init__(self, d_model, dropout=0.0):
        super().__init__()
        self.c_fc = nn.Linear(d_model, 4 * d_model)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * d_model, d_model)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-LayerNorm: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, d_model, heads, context, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)
        self.attn = CausalSelfAttention(d_model, heads, context, dropout)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = TransformerMlp(d_model, dropout)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, vocab=256, context=128, d_model=256, layers=4, heads=4, tied_head=True, dropout=0.0,
                 init_std=0.02):
        super().__init__()
        self.tied_head = tied_head
        self.wte = nn.Embedding(vocab, d_model)
        self.wpe = nn.Embedding(context, d_model)
        self.drop = nn.Dropout(dropout)
        self.h = nn.Sequential(*[Block(d_model, heads, context, dropout) for _ in range(layers)])
        self.ln_f = nn.LayerNorm(d_model)
        if not tied_head:
            self.lm_head = nn.Linear(d_model, vocab, bias=False)
        for m in self.modules():  # N(0, init_std) weights, zero biases; LayerNorm ones/zeros
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, init_std)
            if isinstance(m, nn.Linear) and m.bias is not None:
                nn.init.zeros_(m.bias)

    def forward(self, idx):  # (B, T) -> logits (B, T, vocab)
        T = idx.shape[1]
        x = self.drop(self.wte(idx) + self.wpe(torch.arange(T, device=idx.device)))
        x = self.ln_f(self.h(x))
        return F.linear(x, self.wte.weight) if self.tied_head else self.lm_head(x)


def build_model(kind, options):
    """kind "mlp" | "cnn" | "gpt"; options with the C++ struct's field names (missing
    fields take the C++ defaults, the W1/W3/W2 workloads)."""
    o = dict(options)
    o.pop("dtype", None)
    if kind == "mlp":
        return MLP(o.get("in", 784), tuple(o.get("hidden", (1024, 1024))), o.get("classes", 10),
                   o.get("activation", "relu"))
    if kind == "cnn":
        return CNN(**o)
    if kind == "gpt":
        return GPT(**o)
    raise ValueError(f"unknown model kind {kind!r} (expected mlp, cnn or gpt)")


def model_options(config):
    """(kind, options) for build_model from a Torus config (config.resolved.yaml, or the
    "torus_config" metadata of an exported file), as PyYAML reads it."""
    model = config["model"]
    kind = model["kind"]
    if kind == "mlp":
        m = model["mlp"]
        return kind, {"in": m["input_size"] or 784, "hidden": m["hidden"], "classes": m["classes"] or 10,
                      "activation": m["activation"]}
    if kind == "cnn":
        m = model["cnn"]
        stages = [{"channels": c["channels"], "kernel": c["kernel"], "stride": c["stride"], "padding": c["padding"],
                   "pool": "max" if c["pool"] > 0 else "none", "pool_kernel": max(c["pool"], 1)} for c in m["conv"]]
        return kind, {"stages": stages, "hidden": m["hidden"], "classes": m["classes"] or 10, "fc_relu": m["fc_relu"]}
    g = model["gpt"]
    return kind, {"vocab": g["vocab_size"], "context": g["context"], "d_model": g["d_model"], "layers": g["layers"],
                  "heads": g["heads"], "tied_head": g["tied_head"], "dropout": g["dropout"]}
