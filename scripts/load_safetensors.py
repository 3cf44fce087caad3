#!/usr/bin/env python3
"""Loads a safetensors file (e.g. a tensorgrad checkpoint) into a dict of torch
tensors with only struct + json + torch. Usage: load_safetensors.py FILE"""
import json
import struct
import sys

import torch

DTYPES = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16,
          "BF16": torch.bfloat16, "I64": torch.int64, "I32": torch.int32,
          "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8, "BOOL": torch.bool}


def load(path):
    """Returns ({name: tensor}, {metadata key: value})."""
    with open(path, "rb") as f:
        buf = f.read()
    (n,) = struct.unpack("<Q", buf[:8])
    header = json.loads(buf[8:8 + n])
    meta = header.pop("__metadata__", {})
    data, out = buf[8 + n:], {}
    for name, e in header.items():
        begin, end = e["data_offsets"]
        dt = DTYPES[e["dtype"]]
        t = (torch.frombuffer(bytearray(data[begin:end]), dtype=dt) if end > begin
             else torch.empty(0, dtype=dt))
        out[name] = t.reshape(e["shape"])
    return out, meta


if __name__ == "__main__":
    tensors, meta = load(sys.argv[1])
    print("metadata:", meta)
    for name, t in tensors.items():
        print(f"{name}: {t.dtype} {tuple(t.shape)} {t.flatten()[:6].tolist()}")
