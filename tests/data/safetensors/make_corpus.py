#!/usr/bin/python3
"""Writes the safetensors test corpus beside this script (standard library only).

  malformed/NN_<rule>.safetensors  one file per way a file can break the format, each
                                   listed in malformed/expected.tsv with a fragment of
                                   the error Torus must give for it;
  valid/*.safetensors              valid files, including dtypes Torus does not compute
                                   in, that every reader must accept (also fuzz seeds).

Run it again after changing a case; the tests read the files, not this script."""
import json
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent


def image(header, data=b"", declared=None):
    """8-byte little-endian length, header (str or dict), data."""
    text = header if isinstance(header, (bytes, str)) else json.dumps(header, separators=(",", ":"))
    text = text.encode("utf-8") if isinstance(text, str) else text
    length = len(text) if declared is None else declared
    return struct.pack("<Q", length) + text + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def one(dtype="U8", shape=(4,), begin=0, end=4):
    return {"a": entry(dtype, list(shape), begin, end)}


def nested(depth):
    return "[" * depth + "]" * depth


MALFORMED = [
    # (name, file bytes, fragment of the expected error)
    ("empty_file", b"", "too short"),
    ("seven_bytes", b"\x01\x00\x00\x00\x00\x00\x00", "too short"),
    ("header_length_2_pow_63", image("{}", declared=1 << 63), "exceeds the limit"),
    ("header_length_over_limit", image("{}", declared=100_000_001), "exceeds the limit"),
    ("header_past_end", image("{}", declared=64), "runs past the end"),
    ("truncated_in_header", image(one(), b"\0" * 4)[:20], "runs past the end"),
    ("header_not_json", image('{"a": ', b""), "not valid UTF-8 JSON"),
    ("header_invalid_utf8", image(b'{"\xff\xfe": 1}'), "not valid UTF-8 JSON"),
    ("header_trailing_garbage", image('{} x'), "not valid UTF-8 JSON"),
    ("header_is_array", image("[1, 2]"), "not a JSON object"),
    ("header_is_number", image("42"), "not a JSON object"),
    ("deep_nesting", image('{"__metadata__":' + nested(100_000) + "}"), "levels deep"),
    ("duplicate_tensor_name",
     image('{"a":' + json.dumps(entry("U8", [1], 0, 1)) + ',"a":' + json.dumps(entry("U8", [1], 0, 1)) + "}", b"\0"),
     "names 'a' twice"),
    ("entry_not_object", image({"a": [1, 2]}), "is not an object"),
    ("entry_unknown_field", image({"a": {**entry("U8", [1], 0, 1), "x": 1}}, b"\0"), "unknown field 'x'"),
    ("dtype_unknown", image(one("Q8"), b"\0" * 4), "unknown dtype 'Q8'"),
    ("dtype_not_string", image({"a": {"dtype": 4, "shape": [4], "data_offsets": [0, 4]}}, b"\0" * 4),
     "no dtype string"),
    ("shape_missing", image({"a": {"dtype": "U8", "data_offsets": [0, 4]}}, b"\0" * 4), "no shape list"),
    ("shape_negative", image(one(shape=(-4,)), b"\0" * 4), "not a non-negative integer"),
    ("shape_float", image(one(shape=(1.5,)), b"\0" * 4), "not a non-negative integer"),
    ("shape_string", image(one(shape=("4",)), b"\0" * 4), "not a non-negative integer"),
    ("shape_overflow", image(one("F64", (1 << 32, 1 << 32), 0, 8), b"\0" * 8), "overflows"),
    ("shape_overflow_u64", image(one("U8", (18446744073709551615,), 0, 8), b"\0" * 8), "overflows"),
    ("subbyte_not_whole_bytes", image(one("F4", (3,), 0, 2), b"\0" * 2), "do not fill whole bytes"),
    ("offsets_missing", image({"a": {"dtype": "U8", "shape": [4]}}, b"\0" * 4), "needs data_offsets"),
    ("offsets_three", image({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 2, 4]}}, b"\0" * 4),
     "needs data_offsets"),
    ("offsets_negative", image(one(begin=-4, end=0), b"\0" * 4), "not non-negative integers"),
    ("offsets_reversed", image(one(shape=(0,), begin=4, end=0), b"\0" * 4), "end before they begin"),
    ("byte_count_mismatch", image(one("F32", (2,), 0, 4), b"\0" * 4), "needs 8"),
    ("gap_between_tensors",
     image({"a": entry("U8", [1], 0, 1), "b": entry("U8", [1], 2, 3)}, b"\0" * 3), "a gap or an overlap"),
    ("overlapping_tensors",
     image({"a": entry("U8", [2], 0, 2), "b": entry("U8", [2], 1, 3)}, b"\0" * 3), "a gap or an overlap"),
    ("data_not_from_zero", image(one(begin=2, end=6), b"\0" * 6), "a gap or an overlap"),
    ("trailing_bytes", image(one(), b"\0" * 9), "the file holds 9"),
    ("truncated_data", image(one(), b"\0" * 2), "the file holds 2"),
    ("metadata_not_object", image({"__metadata__": "x"}), "__metadata__ is not an object"),
    ("metadata_value_number", image({"__metadata__": {"k": 1}}), "is not a string"),
    ("metadata_value_object", image({"__metadata__": {"k": {"x": "y"}}}), "is not a string"),
]

VALID = {
    # name: (header, data)
    "every_format_dtype": None,  # built below
    "empty_header": ({}, b""),
    "metadata_only": ({"__metadata__": {"format": "pt"}}, b""),
    "scalar_and_empty": ({"s": entry("F32", [], 0, 4), "e": entry("F32", [0, 3], 4, 4)}, struct.pack("<f", 2.5)),
    "misaligned_f32": ({"b": entry("U8", [1], 0, 1), "f": entry("F32", [2], 1, 9)},
                       b"\x07" + struct.pack("<2f", 1.0, -2.0)),
}


def every_format_dtype():
    bits = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "F4": 4, "F6_E2M3": 6,
            "F6_E3M2": 6, "I16": 16, "U16": 16, "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32,
            "C64": 64, "F64": 64, "I64": 64, "U64": 64}
    header, data = {"__metadata__": {"origin": "make_corpus.py"}}, b""
    for i, (dtype, size) in enumerate(bits.items()):
        elements = 8  # 8 elements fill whole bytes for every bit size
        blob = bytes((i * 31 + k) % 251 for k in range(elements * size // 8))
        header[dtype.lower()] = entry(dtype, [2, 4], len(data), len(data) + len(blob))
        data += blob
    return header, data


def padded(header, data):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def main():
    malformed, valid = HERE / "malformed", HERE / "valid"
    for directory in (malformed, valid):
        directory.mkdir(exist_ok=True)
        for old in directory.glob("*.safetensors"):
            old.unlink()
    lines = []
    for number, (name, data, fragment) in enumerate(MALFORMED, 1):
        file = f"{number:02d}_{name}.safetensors"
        (malformed / file).write_bytes(data)
        lines.append(f"{file}\t{fragment}\n")
    (malformed / "expected.tsv").write_text("".join(lines))
    VALID["every_format_dtype"] = every_format_dtype()
    for name, (header, data) in VALID.items():
        (valid / f"{name}.safetensors").write_bytes(padded(header, data))


if __name__ == "__main__":
    main()
