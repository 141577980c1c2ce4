"""Writes the HDF5 array files of tests/data_array_files_test.cpp with h5py, an
independent writer: `data_write_hdf5.py CASE PATH`. Sample i of `good` has
x[i] = i * 100 + arange(12).reshape(3, 4) and y[i] = i % 3."""
import sys

import h5py
import numpy as np


def good(f):
    n = 10
    f["x"] = (np.arange(n)[:, None, None] * 100 + np.arange(12).reshape(3, 4)).astype(np.float32)
    f["y"] = (np.arange(n) % 3).astype(np.int64)


def write(case, path):
    with h5py.File(path, "w") as f:
        if case == "good":
            good(f)
        elif case == "f64_float_targets":
            f["x"] = np.arange(12, dtype=np.float64).reshape(6, 2) / 8
            f["y"] = np.arange(12, dtype=np.float32).reshape(6, 2) - 0.5
        elif case == "uint8_labels":
            f["x"] = np.zeros((4, 2), np.float32)
            f["y"] = np.array([0, 3, 7, 200], np.uint8)
        elif case == "chunked_gzip":
            f.create_dataset("x", data=np.arange(40, dtype=np.float32).reshape(20, 2), chunks=(3, 2),
                             compression="gzip")
            f.create_dataset("y", data=np.arange(20, dtype=np.int32), chunks=(7,), compression="gzip")
        elif case == "soft_link":
            good(f)
            f["group/x"] = f["x"][...]
            del f["x"]
            f["x"] = h5py.SoftLink("/group/x")
        elif case == "no_y":
            f["x"] = np.zeros((4, 2), np.float32)
        elif case == "y_is_group":
            f["x"] = np.zeros((4, 2), np.float32)
            f.create_group("y")
        elif case == "mismatched_n":
            f["x"] = np.zeros((5, 2), np.float32)
            f["y"] = np.zeros(4, np.int64)
        elif case == "integer_x":
            f["x"] = np.zeros((4, 2), np.int32)
            f["y"] = np.zeros(4, np.int64)
        elif case == "float16_x":
            f["x"] = np.zeros((4, 2), np.float16)
            f["y"] = np.zeros(4, np.int64)
        elif case == "bool_y":
            f["x"] = np.zeros((4, 2), np.float32)
            f["y"] = np.zeros(4, np.bool_)
        elif case == "string_y":
            f["x"] = np.zeros((2, 2), np.float32)
            f["y"] = np.array([b"cat", b"dog"])
        elif case == "scalar_x":
            f["x"] = np.float32(1.0)
            f["y"] = np.zeros(1, np.int64)
        elif case == "empty":
            f["x"] = np.zeros((0, 2), np.float32)
            f["y"] = np.zeros(0, np.int64)
        elif case == "huge":
            # 2^40 x 2^20 floats, never written: only the header claims the size.
            f.create_dataset("x", shape=(2**40, 2**20), dtype=np.float32, chunks=(1, 1024))
            f.create_dataset("y", shape=(2**40,), dtype=np.int64, chunks=(1024,))
        elif case == "external_link":
            with h5py.File(path + ".target.h5", "w") as target:
                target["y"] = np.zeros(4, np.int64)
            f["x"] = np.zeros((4, 2), np.float32)
            f["y"] = h5py.ExternalLink(path + ".target.h5", "/y")
        elif case == "soft_link_to_external":
            with h5py.File(path + ".target.h5", "w") as target:
                target["y"] = np.zeros(4, np.int64)
            f["x"] = np.zeros((4, 2), np.float32)
            f["elsewhere"] = h5py.ExternalLink(path + ".target.h5", "/y")
            f["y"] = h5py.SoftLink("/elsewhere")
        elif case == "external_storage":
            np.zeros(4, np.int64).tofile(path + ".raw")
            f["x"] = np.zeros((4, 2), np.float32)
            f.create_dataset("y", shape=(4,), dtype=np.int64, external=[(path + ".raw", 0, 32)])
        elif case == "virtual":
            with h5py.File(path + ".source.h5", "w") as source:
                source["y"] = np.zeros(4, np.int64)
            layout = h5py.VirtualLayout(shape=(4,), dtype=np.int64)
            layout[:] = h5py.VirtualSource(path + ".source.h5", "y", shape=(4,))
            f["x"] = np.zeros((4, 2), np.float32)
            f.create_virtual_dataset("y", layout)
        else:
            raise SystemExit(f"unknown case {case}")


if __name__ == "__main__":
    write(sys.argv[1], sys.argv[2])
