"""Image files in: one strict reader for every path (training data, inference inputs).

:func:`read_image` decodes the whole file (a truncated or corrupt file is an error naming
it), refuses a header that claims more than :data:`MAX_PIXELS` pixels (a decompression
bomb or a corrupt header) before decoding, scales 16-bit images by their bit depth (never
clipped: a 16-bit scan read as 8 bits would saturate), refuses floating-point pixels
(their range is unknown) and converts between grey and colour by ITU-R 601 luma.

>>> import numpy as np, tempfile, os
>>> from PIL import Image
>>> path = os.path.join(tempfile.mkdtemp(), "grey16.png")
>>> Image.fromarray(np.full((4, 4), 65535, np.uint16)).save(path)
>>> read_image(path, channels=1, dtype=np.uint8)[0, 0]
array([255], dtype=uint8)
"""

from __future__ import annotations

import numpy as np

from medkeras.io.files import DatasetFolderError

__all__ = ["MAX_PIXELS", "WIDE_GREY_MODES", "read_image", "to_channels"]

#: The largest image accepted, in pixels (a 16k × 16k slide tile).
MAX_PIXELS = 16384 * 16384
#: PIL modes of integer grey levels wider than 8 bits.
WIDE_GREY_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")


def read_image(path, *, channels=3, dtype=np.float32):
    """An image file as ``(H, W, channels)`` with values 0–255.

    Parameters
    ----------
    path : path-like
    channels : {1, 3}
        1: grey (colour converted by ITU-R 601 luma); 3: RGB (grey repeated).
    dtype : numpy dtype
        ``float32`` (default) keeps a 16-bit image's fractional levels; ``uint8`` rounds.

    Raises
    ------
    DatasetFolderError
        Naming the file: missing, unreadable, truncated, empty, oversized, float pixels.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3; Received: channels={channels!r}")
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_PIXELS:
                raise DatasetFolderError(
                    f"{path}: {image.width}×{image.height} pixels, more than the "
                    f"{MAX_PIXELS} accepted (a corrupt header, or crop the image first)")
            if image.width < 1 or image.height < 1:
                raise DatasetFolderError(f"{path}: empty image ({image.width}×{image.height})")
            image.load()                         # the whole file: truncation is caught here
            mode = image.mode
            if mode in WIDE_GREY_MODES:
                bits = 16 if mode.startswith("I;16") else 32
                array = np.asarray(image, dtype=np.float64)
                if mode == "I" and array.max(initial=0) <= 65535:
                    bits = 16                    # PNG 16-bit grey opens as mode "I"
                if array.min(initial=0) < 0:
                    raise DatasetFolderError(f"{path}: negative pixel values (signed "
                                             "integers); save it as unsigned 8 or 16 bits")
                image_array = (array / (2 ** bits - 1) * 255).astype(np.float32)[..., None]
            elif mode == "F":
                raise DatasetFolderError(f"{path}: floating-point pixels (unknown range); "
                                         "save it as 8- or 16-bit")
            else:
                image_array = np.asarray(image.convert("RGB"), np.float32)
    except DatasetFolderError:
        raise
    except FileNotFoundError:
        raise DatasetFolderError(f"{path}: no such image file") from None
    except Image.DecompressionBombError as err:
        raise DatasetFolderError(f"{path}: {err}") from None
    except Exception as err:     # PIL raises many types (OSError, SyntaxError, ValueError)
        raise DatasetFolderError(f"{path}: unreadable image ({type(err).__name__}: {err})"
                                 ) from None
    result = to_channels(image_array, channels)
    if np.dtype(dtype) == np.uint8:
        return np.round(result).astype(np.uint8)
    return result.astype(dtype, copy=False)


def to_channels(image, channels):
    """An ``(H, W, 1 or 3)`` image with ``channels`` channels: colour to grey by ITU-R 601
    luma, grey repeated to RGB."""
    if image.shape[-1] == channels:
        return image
    if channels == 1:
        return image @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    return np.repeat(image, 3, axis=-1)
