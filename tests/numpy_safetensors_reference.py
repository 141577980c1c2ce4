#!/usr/bin/python3
"""safetensors files as dicts of numpy arrays, written from the format's spec (8-byte
little-endian header length, JSON header, contiguous little-endian data), for the PyTorch
reference scripts of the nn and optim tests. Float and integer dtypes only."""
import json
import struct

import numpy as np

DTYPES = {"F32": "<f4", "F64": "<f8", "I32": "<i4", "I64": "<i8", "U8": "|u1"}
NAMES = {np.dtype(v).str: k for k, v in DTYPES.items()}


def read(path):
    data = open(path, "rb").read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length].decode("utf-8"))
    header.pop("__metadata__", None)
    body = data[8 + length :]
    arrays = {}
    for name, spec in header.items():
        begin, end = spec["data_offsets"]
        arrays[name] = np.frombuffer(body[begin:end], dtype=DTYPES[spec["dtype"]]).reshape(spec["shape"]).copy()
    return arrays


def write(path, arrays):
    header, offset, blobs = {}, 0, []
    for name, array in arrays.items():
        array = np.require(array, requirements="C")  # keeps 0-d arrays 0-d
        blob = array.tobytes()
        header[name] = {"dtype": NAMES[array.dtype.str], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as out:
        out.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
