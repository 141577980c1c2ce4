#!/usr/bin/python3
"""An independent safetensors reader and writer, written from the format's spec with
numpy only, for checking Torus's files from outside.

  safetensors_reference.py check FILE.safetensors DIR   # FILE holds DIR/<name>.npy, bit for bit
  safetensors_reference.py write OUT.safetensors DIR    # writes DIR/<name>.npy (and metadata)
"""
import json
from pathlib import Path
import struct
import sys

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "F16": "<f2", "I32": "<i4", "I64": "<i8", "U8": "|u1"}


def read(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    metadata = header.pop("__metadata__", {})
    body = data[8 + length :]
    arrays = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        if spec["dtype"] == "BF16":  # numpy has no bfloat16: keep the raw 16-bit words
            array = np.frombuffer(body[begin:end], dtype="<u2")
        else:
            array = np.frombuffer(body[begin:end], dtype=DTYPES[spec["dtype"]])
        arrays[name] = array.reshape(spec["shape"])
    covered = sum(spec["data_offsets"][1] - spec["data_offsets"][0] for spec in header.values())
    assert covered == len(body), f"data holds {len(body)} bytes, tensors cover {covered}"
    return arrays, metadata


def write(path, arrays, metadata):
    header, offset, blobs = {}, 0, []
    if metadata:
        header["__metadata__"] = metadata
    for name, array in arrays.items():
        dtype = {v: k for k, v in DTYPES.items()}[np.dtype(array.dtype).str]
        blob = np.ascontiguousarray(array).tobytes()
        header[name] = {"dtype": dtype, "shape": list(array.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def main():
    command, path, expect_dir = sys.argv[1:4]
    expect = {f.stem: np.load(f) for f in sorted(Path(expect_dir).glob("*.npy"))}
    if command == "check":
        arrays, metadata = read(path)
        assert metadata == {"origin": "torus"}, metadata
        assert sorted(arrays) == sorted(expect), (sorted(arrays), sorted(expect))
        for name, want in expect.items():
            got = arrays[name]
            assert got.shape == want.shape, (name, got.shape, want.shape)
            assert got.tobytes() == np.ascontiguousarray(want).tobytes(), name
    else:
        write(path, expect, {"origin": "python"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
