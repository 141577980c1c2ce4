#!/usr/bin/python3
"""safetensors files crossing between Torus and two independent Python implementations:
the reference `safetensors` package from PyPI (through torch, so bf16/f16 included) and a
reader/writer written here from the format's spec with the standard library only.

Both sides build the same tensors from one formula (expected()), so each side checks
the other's file bit for bit without a third file.

  safetensors_interop.py check FILE   # both readers agree with expected(), metadata origin=torus
  safetensors_interop.py write-pypi OUT   # the PyPI writer, metadata origin=pypi
  safetensors_interop.py write-spec OUT   # the spec writer here, metadata origin=spec
"""
import json
import struct
import sys

import torch
from safetensors import safe_open
from safetensors.torch import save_file

TORCH_DTYPES = {"F32": torch.float32, "F64": torch.float64, "BF16": torch.bfloat16, "F16": torch.float16,
                "I32": torch.int32, "I64": torch.int64, "U8": torch.uint8}
SPEC_NAMES = {v: k for k, v in TORCH_DTYPES.items()}


def expected():
    """The tests' shared tensors (safetensors_test.cpp builds the same): exact in every dtype."""
    tensors = {}
    k = torch.arange(24, dtype=torch.float64).reshape(2, 3, 4)
    for name, dtype in TORCH_DTYPES.items():
        if dtype == torch.uint8:
            value = (k * 7) % 256
        elif dtype.is_floating_point:
            value = (k - 12) * 0.25
        else:
            value = k - 12
        tensors[name.lower()] = value.to(dtype)
    tensors["scalar"] = torch.tensor(-1.25, dtype=torch.float64)
    tensors["empty"] = torch.zeros(0, 4, dtype=torch.float32)
    return tensors


def spec_read(path):
    """(tensors, metadata) by the spec: length, JSON header, contiguous data."""
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + length:]
    covered = sum(spec["data_offsets"][1] - spec["data_offsets"][0] for spec in header.values())
    assert covered == len(body), f"data holds {len(body)} bytes, tensors cover {covered}"
    tensors = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        dtype = TORCH_DTYPES[spec["dtype"]]
        raw = bytearray(body[begin:end])
        flat = torch.frombuffer(raw, dtype=dtype) if raw else torch.zeros(0, dtype=dtype)
        tensors[name] = flat.reshape(spec["shape"])
    return tensors, metadata


def spec_write(path, tensors, metadata):
    header, offset, blobs = {"__metadata__": metadata}, 0, []
    for name, t in tensors.items():
        blob = t.contiguous().view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": SPEC_NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def pypi_read(path):
    with safe_open(path, framework="pt") as f:
        return {name: f.get_tensor(name) for name in f.keys()}, f.metadata() or {}


def check(path):
    want = expected()
    for reader in (pypi_read, spec_read):
        tensors, metadata = reader(path)
        assert metadata == {"origin": "torus"}, (reader.__name__, metadata)
        assert sorted(tensors) == sorted(want), (reader.__name__, sorted(tensors), sorted(want))
        for name, w in want.items():
            got = tensors[name]
            assert got.dtype == w.dtype and got.shape == w.shape, (reader.__name__, name, got.dtype, got.shape)
            assert torch.equal(got, w), (reader.__name__, name, got, w)


def main():
    command, path = sys.argv[1:3]
    if command == "check":
        check(path)
    elif command == "write-pypi":
        save_file(expected(), path, metadata={"origin": "pypi"})
    elif command == "write-spec":
        spec_write(path, expected(), {"origin": "spec"})
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
