"""Decoding and encoding of CSV, JSON and NPY, and content negotiation."""

from __future__ import annotations

import io

import numpy as np
import pytest
from smp_runtime.serving.codecs import (
    DECODERS,
    ENCODERS,
    Negotiator,
    PayloadError,
    decode_csv,
    decode_json,
    decode_npy,
    encode_csv,
    encode_json,
    encode_npy,
)


def npy(array: object) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def test_csv_one_row_and_many_rows() -> None:
    assert decode_csv(b"5.1,3.5,1.4,0.2").tolist() == [[5.1, 3.5, 1.4, 0.2]]
    many = decode_csv(b"1,2,3\r\n4,5,6\n")
    assert many.shape == (2, 3) and many[1, 2] == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"sepal,width\n1,2", "numbers only"),
        (b"1,2,3\n4,5", "row 2 has 2 columns, row 1 has 3"),
        (b"1,,3", "numbers only"),
        (b"1;2;3\n4,5,6", "row 2 has 3 columns, row 1 has 1"),
    ],
)
def test_malformed_csv_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_csv(body)


def test_json_accepts_rows_a_single_row_and_instances() -> None:
    assert decode_json(b"[[1, 2], [3, 4]]").shape == (2, 2)
    assert decode_json(b"[1, 2, 3]").shape == (1, 3)
    assert decode_json(b'{"instances": [[1, 2]]}').tolist() == [[1, 2]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[[1, 2", "not valid JSON"),
        (b'{"rows": []}', '"instances" key'),
        (b'[["a", "b"]]', "numbers only"),
        (b"[[1, 2], [3]]", "equally long rows"),
        (b"7", "not a single value"),
    ],
)
def test_malformed_json_says_what_is_wrong(body: bytes, message: str) -> None:
    with pytest.raises(PayloadError, match=message):
        decode_json(body)


def test_npy_round_trip_and_no_pickles() -> None:
    assert decode_npy(npy([[1.0, 2.0]])).tolist() == [[1.0, 2.0]]
    assert decode_npy(npy([1.0, 2.0])).shape == (1, 2)
    with pytest.raises(PayloadError, match=r"not a valid \.npy"):
        decode_npy(npy(np.array([{"a": 1}], dtype=object)))
    with pytest.raises(PayloadError, match=r"not a valid \.npy"):
        decode_npy(b"not npy at all")


def test_encoders() -> None:
    assert encode_csv(np.array([0, 2])) == b"0\n2\n"
    assert encode_csv(np.array([[0.5, 1.0]])) == b"0.5,1.0\n"
    assert encode_csv(3) == b"3\n"
    assert encode_json(np.array([0, 2])) == b"[0, 2]"
    assert np.load(io.BytesIO(encode_npy(np.array([1, 2])))).tolist() == [1, 2]


def test_content_type_resolution_ignores_parameters_and_case() -> None:
    negotiator = Negotiator(DECODERS, ENCODERS)
    assert negotiator.decoder(b"text/csv")[0] == "text/csv"
    assert negotiator.decoder(b"Text/CSV; charset=utf-8")[0] == "text/csv"
    assert negotiator.decoder(b"text/plain") is None
    assert negotiator.decoder(b"") is None


@pytest.mark.parametrize(
    ("accept", "request_type", "expected"),
    [
        (b"", "text/csv", "text/csv"),
        (b"*/*", "application/json", "application/json"),
        (b"application/json", "text/csv", "application/json"),
        (b"text/html, application/x-npy;q=0.5, text/csv;q=0.9", "application/json", "text/csv"),
        (b"application/*", "text/csv", "application/json"),
        (b"text/html", "text/csv", None),
        (b"text/csv;q=0", "text/csv", None),
    ],
)
def test_accept_negotiation(accept: bytes, request_type: str, expected: str | None) -> None:
    found = Negotiator(DECODERS, ENCODERS).encoder(accept, request_type)
    assert (found[0] if found else None) == expected


def test_user_functions_receive_every_type() -> None:
    negotiator = Negotiator(
        DECODERS,
        ENCODERS,
        any_decoder=lambda body, content_type: (body, content_type),
        any_encoder=lambda prediction, accept: (prediction, accept),
    )
    _, decode = negotiator.decoder(b"text/plain; charset=utf-8")
    assert decode(b"hello") == (b"hello", "text/plain")
    _, encode = negotiator.encoder(b"application/xml, text/csv", "text/plain")
    assert encode(1) == (1, "application/xml")
    assert negotiator.encoder(b"*/*", "text/plain")[0] == "text/plain"
