"""A small reader/writer for the safetensors format (8-byte LE header length, JSON header, data)."""
import json
import struct

import numpy as np

_NP = {"F16": np.float16, "F32": np.float32, "I32": np.int32, "I64": np.int64}


def write(path, tensors, metadata=None):
    """tensors: dict name -> numpy array (float16/float32) or (\"BF16\", shape, raw bytes)."""
    header = {}
    blobs = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name]
        if isinstance(t, tuple):
            dtype, shape, raw = t
        else:
            arr = np.ascontiguousarray(t)
            dtype = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32",
                     np.dtype(np.int32): "I32", np.dtype(np.int64): "I64"}[arr.dtype]
            shape = list(arr.shape)
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hj = json.dumps(header, separators=(",", ":")).encode()
    hj += b" " * ((8 - len(hj) % 8) % 8)  # align the data section to 8 bytes
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)


def read(path):
    """Returns dict name -> numpy array (BF16 is widened to float32)."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        raw = data[base + a:base + b]
        if info["dtype"] == "BF16":
            u = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_NP[info["dtype"]]).newbyteorder("<"))
        out[name] = arr.reshape(info["shape"]).copy()
    return out
