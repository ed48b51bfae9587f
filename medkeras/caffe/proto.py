"""Caffe's binary ``NetParameter`` format, read and written without Caffe.

A minimal schema built on the ``protobuf`` runtime: only the fields that carry layer names,
types and weight blobs.  Field numbers follow BVLC Caffe's ``caffe.proto``; everything else
in a ``.caffemodel`` (solver state, layer parameters) is skipped by the parser.  Both the
current ``layer`` field (V2, ``LayerParameter``, shapes as ``BlobShape``) and the legacy
``layers`` field (V1, ``V1LayerParameter``, shapes as num/channels/height/width) are read;
the real ``bvlc_alexnet.caffemodel`` is V1.
"""

import dataclasses
import os

import numpy as np
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

# Caffe's V1LayerParameter.LayerType values for the layer kinds that carry weights.
V1_LAYER_TYPES = {"Convolution": 4, "InnerProduct": 14, "Deconvolution": 39}
_V1_TYPE_NAMES = {v: k for k, v in V1_LAYER_TYPES.items()}


class CaffeModelError(ValueError):
    """A ``.caffemodel`` that cannot be read or does not fit the network."""


def _build_schema(raw_data):
    """Message classes; with ``raw_data`` the packed float ``data`` field is read as bytes.

    Packed repeated floats travel as one length-delimited run of little-endian float32, so
    declaring the field as ``bytes`` lets NumPy view it without a per-value conversion
    (seconds for AlexNet's fc6).  A blob written unpacked or in several runs does not
    survive that view intact; the reader detects it by the value count and re-reads that
    blob with the exact schema.
    """
    F = descriptor_pb2.FieldDescriptorProto
    package = "medkeras_caffe_raw" if raw_data else "medkeras_caffe"
    file = descriptor_pb2.FileDescriptorProto(name=package + ".proto", package=package,
                                              syntax="proto2")

    def message(name, fields):
        msg = file.message_type.add(name=name)
        for field_name, number, kind, label, type_name, packed in fields:
            f = msg.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = f".{package}.{type_name}"
            if packed:
                f.options.packed = True

    opt, rep = F.LABEL_OPTIONAL, F.LABEL_REPEATED
    message("BlobShape", [("dim", 1, F.TYPE_INT64, rep, None, True)])
    message("BlobProto", [
        ("num", 1, F.TYPE_INT32, opt, None, False),
        ("channels", 2, F.TYPE_INT32, opt, None, False),
        ("height", 3, F.TYPE_INT32, opt, None, False),
        ("width", 4, F.TYPE_INT32, opt, None, False),
        ("data", 5, F.TYPE_BYTES, opt, None, False) if raw_data
        else ("data", 5, F.TYPE_FLOAT, rep, None, True),
        ("shape", 7, F.TYPE_MESSAGE, opt, "BlobShape", False),
        ("double_data", 8, F.TYPE_DOUBLE, rep, None, True),
    ])
    message("LayerParameter", [
        ("name", 1, F.TYPE_STRING, opt, None, False),
        ("type", 2, F.TYPE_STRING, opt, None, False),
        ("blobs", 7, F.TYPE_MESSAGE, rep, "BlobProto", False),
    ])
    message("V1LayerParameter", [
        ("v0_layer", 1, F.TYPE_BYTES, opt, None, False),
        ("name", 4, F.TYPE_STRING, opt, None, False),
        ("type", 5, F.TYPE_INT32, opt, None, False),
        ("blobs", 6, F.TYPE_MESSAGE, rep, "BlobProto", False),
    ])
    message("NetParameter", [
        ("name", 1, F.TYPE_STRING, opt, None, False),
        ("layers", 2, F.TYPE_MESSAGE, rep, "V1LayerParameter", False),
        ("layer", 100, F.TYPE_MESSAGE, rep, "LayerParameter", False),
    ])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))
            for name in ("BlobShape", "BlobProto", "LayerParameter", "V1LayerParameter", "NetParameter")}


_SCHEMA = _build_schema(raw_data=False)
NetParameter = _SCHEMA["NetParameter"]
BlobProto = _SCHEMA["BlobProto"]
_RawNetParameter = _build_schema(raw_data=True)["NetParameter"]


@dataclasses.dataclass
class CaffeLayer:
    """One layer of a ``.caffemodel``: its name, type and weight blobs (float32 arrays)."""
    name: str
    type: str
    blobs: list


@dataclasses.dataclass
class CaffeNet:
    """The weight-carrying content of a ``.caffemodel``."""
    name: str
    format: str  # "V1" (legacy ``layers``) or "V2" (``layer``)
    layers: list

    def by_name(self):
        return {layer.name: layer for layer in self.layers}


def _blob_to_array(blob, where):
    if len(blob.shape.dim):
        shape = tuple(int(d) for d in blob.shape.dim)
    elif blob.HasField("num") or blob.HasField("channels") or blob.HasField("height") \
            or blob.HasField("width"):
        shape = (blob.num, blob.channels, blob.height, blob.width)
    else:
        shape = None
    expected = None if shape is None else int(np.prod(shape))
    values = np.frombuffer(blob.data, dtype="<f4") if blob.data else np.zeros(0, np.float32)
    if expected is not None and values.size != expected and not len(blob.double_data):
        exact = BlobProto()  # unpacked or split data: read it value by value
        exact.ParseFromString(blob.SerializeToString())
        values = np.array(exact.data, dtype=np.float32)
    if not values.size and len(blob.double_data):
        values = np.array(blob.double_data, dtype=np.float64).astype(np.float32)
    values = values.astype(np.float32)  # native byte order, writable copy
    if shape is None:
        shape = values.shape
    if int(np.prod(shape)) != values.size:
        raise CaffeModelError(
            f"{where}: blob declares shape {shape} ({int(np.prod(shape))} values) but holds "
            f"{values.size} values; the file is truncated or corrupt")
    return values.reshape(shape)


def read_caffemodel(path):
    """Read the layers and weight blobs of a binary ``.caffemodel`` (V1 or V2 format).

    Parameters
    ----------
    path : str or os.PathLike
        The ``.caffemodel`` file.

    Returns
    -------
    CaffeNet
        Layers in file order, each with its blobs as float32 arrays in Caffe's layout
        (OIHW filters; V1 blobs as 4-D num/channels/height/width arrays).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    CaffeModelError
        If the file is not a readable Caffe ``NetParameter`` (truncated, corrupt, a text
        prototxt, or the pre-2014 V0 format) or holds no layers with weights.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Caffe model file not found: {path}")
    with open(path, "rb") as f:
        content = f.read()
    net = _RawNetParameter()
    try:
        net.ParseFromString(content)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise CaffeModelError(
            f"{path} is not a valid binary Caffe model ({len(content)} bytes): {err}. "
            "The file may be truncated or corrupt (compare its checksum), or it may be a "
            "text .prototxt rather than a binary .caffemodel.") from None
    if len(net.layer) and len(net.layers):
        raise CaffeModelError(f"{path} mixes V1 'layers' and V2 'layer' fields")
    layers = []
    if len(net.layer):
        for layer in net.layer:
            blobs = [_blob_to_array(b, f"{path}: layer {layer.name!r} blob {i}")
                     for i, b in enumerate(layer.blobs)]
            layers.append(CaffeLayer(layer.name, layer.type, blobs))
        fmt = "V2"
    else:
        for layer in net.layers:
            if layer.HasField("v0_layer"):
                raise CaffeModelError(
                    f"{path} uses Caffe's pre-2014 V0 format; upgrade it with Caffe's "
                    "upgrade_net_proto_binary tool first")
            blobs = [_blob_to_array(b, f"{path}: layer {layer.name!r} blob {i}")
                     for i, b in enumerate(layer.blobs)]
            layers.append(CaffeLayer(layer.name, _V1_TYPE_NAMES.get(layer.type, str(layer.type)),
                                     blobs))
        fmt = "V1"
    if not any(layer.blobs for layer in layers):
        raise CaffeModelError(
            f"{path} holds no layers with weights ({len(content)} bytes); it is empty, "
            "truncated, or not a Caffe model")
    return CaffeNet(net.name, fmt, layers)


def _encode_varint(value):
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _blob(array, fmt):
    array = np.asarray(array, dtype="<f4")
    blob = BlobProto()
    if fmt == "V2":
        blob.shape.dim.extend(int(d) for d in array.shape)
    else:
        dims = (1,) * (4 - array.ndim) + tuple(int(d) for d in array.shape)
        if len(dims) != 4:
            raise ValueError(f"V1 blobs are at most 4-D, got shape {array.shape}")
        blob.num, blob.channels, blob.height, blob.width = dims
    raw = array.tobytes()
    # The packed float field written directly: far faster than extending the repeated field.
    blob.MergeFromString(_encode_varint((5 << 3) | 2) + _encode_varint(len(raw)) + raw)
    return blob


def write_caffemodel(path, layers, *, fmt="V2", name=""):
    """Write weight blobs as a binary ``.caffemodel`` in Caffe's V2 or legacy V1 format.

    Used to test the reader against independent Caffe implementations, and to hand Keras
    weights back to Caffe-based tools.

    Parameters
    ----------
    path : str or os.PathLike
    layers : list of (name, type, blobs)
        ``type`` is Caffe's layer type string (``"Convolution"``, ``"InnerProduct"``);
        ``blobs`` are arrays in Caffe's layout.  In V1, arrays are written as 4-D
        num/channels/height/width blobs with leading ones, as Caffe did.
    fmt : {"V2", "V1"}
    name : str
        The network name stored in the file.
    """
    if fmt not in ("V1", "V2"):
        raise ValueError(f"fmt must be 'V1' or 'V2', got {fmt!r}")
    net = NetParameter(name=name)
    for layer_name, layer_type, blobs in layers:
        if fmt == "V2":
            layer = net.layer.add(name=layer_name, type=layer_type)
        else:
            if layer_type not in V1_LAYER_TYPES:
                raise ValueError(f"no V1 layer type for {layer_type!r}")
            layer = net.layers.add(name=layer_name, type=V1_LAYER_TYPES[layer_type])
        for array in blobs:
            layer.blobs.append(_blob(array, fmt))
    tmp = os.fspath(path) + ".partial"
    with open(tmp, "wb") as f:
        f.write(net.SerializeToString())
    os.replace(tmp, path)
