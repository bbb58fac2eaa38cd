"""The message format between the trusted grader and the worker that runs student code.

A frame is two big-endian uint32 lengths (JSON header, binary blob), the UTF-8 JSON header, then the blob.
Tensors travel as raw bytes in the blob, described in the header by {"__tensor__": {dtype, shape, ...}}.
Decoding never builds objects other than JSON values and plain `torch.Tensor`s, and checks every tensor's
description (known dtype, sane shape, byte count) before touching its bytes.

torch is imported inside the functions that need it: the trusted process starts the worker before it pays
for importing torch, so that both imports overlap.
"""
import ctypes
import json
import math
import struct
import sys

HEADER = struct.Struct("!II")
TENSOR_KEY = "__tensor__"
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_BLOB_BYTES = 256 * 1024 * 1024
MAX_DIMS = 8
# Written by the worker on its stdout before it runs any student code: what came before is not the student's
# output (see grader.output).
READY_MARKER = b"\0attention-grader: worker ready\0"
# A call's construct_on for a build judged only by its shapes: the meta device (no memory, no initialisation)
# where the worker has torch's meta kernels loaded already (a zygote's worker), the CPU otherwise; a build
# that fails on the meta device (code that needs real values, such as .item()) is built on the CPU instead.
META_WHERE_LOADED = "meta where loaded"

DTYPES = {
    "float32": 4, "float64": 8, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}


class WireError(Exception):
    """A frame that does not follow the format."""


def _dtype(name):
    import torch
    return getattr(torch, name)


def contiguous_bytes(tensor) -> bytes:
    """The raw bytes of a contiguous CPU tensor. Not through numpy: an older torch cannot use numpy 2."""
    if not tensor.numel():
        return b""
    if not tensor.is_contiguous():
        raise ValueError("contiguous_bytes needs a contiguous tensor")
    return ctypes.string_at(tensor.data_ptr(), tensor.numel() * tensor.element_size())


def encode(message):
    """Turn a JSON-like message that may hold tensors into one frame (bytes)."""
    torch = sys.modules.get("torch")  # no tensor can exist before torch is imported: don't import it here

    blob = bytearray()

    def tensor_to_json(value):
        """What json.dumps calls for a value JSON has no type for: a tensor's description, or a refusal."""
        if torch is None or not isinstance(value, torch.Tensor):
            raise WireError(f"cannot send a value of type {type(value).__name__}")
        dtype = str(value.dtype).removeprefix("torch.")
        if dtype not in DTYPES:
            raise WireError(f"tensors of dtype {dtype} cannot be sent")
        description = {"dtype": dtype, "shape": list(value.shape), "device": value.device.type}
        if value.device.type != "meta":
            if type(value) is torch.Tensor and value.device.type == "cpu":
                flat = value.detach().contiguous()  # its bytes are copied out below
            else:  # a fresh plain tensor: whatever subclass came in, only its values leave
                flat = torch.Tensor.detach(value).to("cpu").reshape(-1).clone()
            raw = contiguous_bytes(flat)
            description.update(offset=len(blob), nbytes=len(raw))
            blob.extend(raw)
        return {TENSOR_KEY: description}

    try:
        header = json.dumps(message, default=tensor_to_json, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:  # a key JSON cannot hold, a message that contains itself
        raise WireError(f"cannot send this message: {exc}") from None
    return HEADER.pack(len(header), len(blob)) + header + blob


def split_lengths(prefix):
    """Read the two lengths at the start of a frame, refusing sizes over the limits."""
    json_len, blob_len = HEADER.unpack(prefix)
    if json_len > MAX_JSON_BYTES or blob_len > MAX_BLOB_BYTES:
        raise WireError(f"frame too large ({json_len} + {blob_len} bytes)")
    return json_len, blob_len


def decode(header_bytes, blob):
    """Rebuild a message from its header and blob, validating every tensor."""
    def build(description):
        import torch

        if not isinstance(description, dict):
            raise WireError("malformed tensor description")
        dtype, shape = description.get("dtype"), description.get("shape")
        if dtype not in DTYPES:
            raise WireError(f"unknown tensor dtype {dtype!r}")
        if (not isinstance(shape, list) or len(shape) > MAX_DIMS
                or not all(type(n) is int and 0 <= n for n in shape)):
            raise WireError(f"malformed tensor shape {shape!r}")
        if description.get("device") == "meta":
            return torch.empty(shape, dtype=_dtype(dtype), device="meta")
        offset, nbytes = description.get("offset"), description.get("nbytes")
        if type(offset) is not int or type(nbytes) is not int:
            raise WireError("malformed tensor offset")
        if nbytes != math.prod(shape) * DTYPES[dtype] or offset < 0 or offset + nbytes > len(blob):
            raise WireError(f"tensor of shape {shape} and dtype {dtype} does not match its {nbytes} bytes")
        if nbytes == 0:
            return torch.empty(shape, dtype=_dtype(dtype))
        return torch.frombuffer(bytearray(blob[offset:offset + nbytes]), dtype=_dtype(dtype)).reshape(shape)

    def hook(obj):
        if TENSOR_KEY in obj:
            if len(obj) != 1:
                raise WireError("malformed tensor reference")
            return build(obj[TENSOR_KEY])
        return obj

    try:
        text = header_bytes.decode()
        # Without tensors, no dictionary needs looking at: json's parser then runs without calling back.
        return json.loads(text, object_hook=hook) if TENSOR_KEY in text else json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"malformed frame header: {exc}") from None
