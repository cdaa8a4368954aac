"""Request decoding and response encoding for text/csv, application/json and application/x-npy.

Decoders turn a body into a 2-D numeric numpy array (a 1-D payload is one row); encoders turn
predictions into bytes. Content types are resolved once per distinct header value and cached, so
the hot path is one dict lookup.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np

CSV = "text/csv"
JSON = "application/json"
NPY = "application/x-npy"
SUPPORTED = (CSV, JSON, NPY)

Decoder = Callable[[bytes], Any]
Encoder = Callable[[Any], bytes]

_CACHE_LIMIT = 256


class PayloadError(ValueError):
    """The request body cannot be decoded; the message tells the caller what to fix."""


def decode_csv(body: bytes) -> np.ndarray:
    if b"\r" in body:
        body = body.replace(b"\r", b"")
    body = body.strip(b"\n")
    rows = body.split(b"\n")
    commas = rows[0].count(b",")
    if len(rows) == 1:
        fields = rows[0].split(b",")
    else:
        if len({row.count(b",") for row in rows}) != 1:
            number, row = next((n, r) for n, r in enumerate(rows, start=1) if r.count(b",") != commas)
            raise PayloadError(
                f"CSV row {number} has {row.count(b',') + 1} columns, row 1 has {commas + 1}; "
                "every row needs the same number of columns"
            )
        fields = body.replace(b"\n", b",").split(b",")
    try:
        values = np.array(fields, dtype=np.float64)
    except ValueError as error:
        raise PayloadError(
            f"CSV must hold numbers only, comma-separated, one record per line, no header ({error})"
        ) from None
    return values.reshape(len(rows), commas + 1)


def _numeric_rows(data: Any, what: str) -> np.ndarray:
    try:
        array = np.asarray(data)
    except ValueError as error:
        raise PayloadError(f"{what} must be a list of equally long rows of numbers ({error})") from None
    if array.dtype.kind not in "biuf":
        raise PayloadError(f"{what} must hold numbers only (found {array.dtype}); send numeric features")
    if array.ndim == 0:
        raise PayloadError(f"{what} must be a row or a list of rows, not a single value")
    if array.ndim == 1:
        array = array.reshape(1, -1)
    return array


def decode_json(body: bytes) -> np.ndarray:
    try:
        data = json.loads(body)
    except ValueError as error:
        raise PayloadError(f"request body is not valid JSON ({error})") from None
    if isinstance(data, dict):
        if "instances" not in data:
            raise PayloadError('JSON object must have an "instances" key holding a list of rows')
        data = data["instances"]
    return _numeric_rows(data, "JSON")


def decode_npy(body: bytes) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(body), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise PayloadError(
            f"request body is not a valid .npy array without pickled objects ({error})"
        ) from None
    return _numeric_rows(array, "NPY array")


def _as_list(prediction: Any) -> Any:
    return prediction.tolist() if hasattr(prediction, "tolist") else prediction


def encode_csv(prediction: Any) -> bytes:
    values = _as_list(prediction)
    if not isinstance(values, list):
        return f"{values}\n".encode()
    if values and isinstance(values[0], list):
        lines = [",".join(map(str, row)) for row in values]
    else:
        lines = list(map(str, values))
    lines.append("")
    return "\n".join(lines).encode()


def encode_json(prediction: Any) -> bytes:
    return json.dumps(_as_list(prediction)).encode()


def encode_npy(prediction: Any) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(prediction), allow_pickle=False)
    return buffer.getvalue()


DECODERS: dict[str, Decoder] = {CSV: decode_csv, JSON: decode_json, NPY: decode_npy}
ENCODERS: dict[str, Encoder] = {CSV: encode_csv, JSON: encode_json, NPY: encode_npy}


def media_type(header: bytes) -> str:
    """`text/CSV; charset=utf-8` -> `text/csv`."""
    return header.split(b";", 1)[0].strip().lower().decode("latin-1")


def _accepted_types(header: bytes) -> list[str]:
    ranked = []
    for position, part in enumerate(header.split(b",")):
        name, _, params = part.partition(b";")
        quality = 1.0
        for param in params.split(b";"):
            key, _, value = param.strip().partition(b"=")
            if key == b"q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, name.strip().lower().decode("latin-1")))
    return [name for _, _, name in sorted(ranked)]


def _call_with_type(function: Callable[[Any, str], Any], media: str, value: Any) -> Any:
    return function(value, media)


class Negotiator:
    """Maps raw Content-Type / Accept header values to (media type, codec), caching each value."""

    def __init__(
        self,
        decoders: dict[str, Decoder],
        encoders: dict[str, Encoder],
        any_decoder: Callable[[bytes, str], Any] | None = None,
        any_encoder: Callable[[Any, str], Any] | None = None,
    ) -> None:
        self.decoders = decoders
        self.encoders = encoders
        self.any_decoder = any_decoder  # the user's input_fn(body, content_type): every type goes to it
        self.any_encoder = any_encoder  # the user's output_fn(prediction, accept)
        self._content_types: dict[bytes, tuple[str, Decoder] | None] = {}
        self._accepts: dict[tuple[bytes, str], tuple[str, Encoder] | None] = {}

    def decoder(self, content_type: bytes) -> tuple[str, Decoder] | None:
        try:
            return self._content_types[content_type]
        except KeyError:
            pass
        name = media_type(content_type)
        found = None
        if self.any_decoder is not None:
            found = (name, functools.partial(_call_with_type, self.any_decoder, name))
        elif name in self.decoders:
            found = (name, self.decoders[name])
        if len(self._content_types) < _CACHE_LIMIT:
            self._content_types[content_type] = found
        return found

    def encoder(self, accept: bytes, request_type: str) -> tuple[str, Encoder] | None:
        """The best type the caller accepts; a missing Accept or */* answers in the request's type."""
        key = (accept, request_type)
        try:
            return self._accepts[key]
        except KeyError:
            pass
        found = None
        if self.any_encoder is not None:
            wanted = _accepted_types(accept)[:1] if accept else []
            name = request_type if not wanted or wanted[0] in ("*/*", "*") else wanted[0]
            found = (name, functools.partial(_call_with_type, self.any_encoder, name))
        for name in [] if found else _accepted_types(accept) if accept else ["*/*"]:
            if name in ("*/*", "*") and request_type in self.encoders:
                found = (request_type, self.encoders[request_type])
            elif name.endswith("/*"):
                found = next(((t, e) for t, e in self.encoders.items() if t.startswith(name[:-1])), None)
            elif name in self.encoders:
                found = (name, self.encoders[name])
            if found:
                break
        if len(self._accepts) < _CACHE_LIMIT:
            self._accepts[key] = found
        return found
