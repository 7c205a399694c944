"""Contract of the ``.npy`` header reader: it reads what ``np.save`` and the store write
(dtype, shape, order, data offset exactly as numpy reads them), whichever way it parses
a header, and refuses a malformed one with ``ValueError``."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
from hypothesis import given, settings

from exca.store import npy
from exca.store.codecs.testing import arrays, assert_same_value


def _as_read_by_us(data: bytes) -> np.ndarray:
    header = npy.read_header(io.BytesIO(data))
    order = "F" if header.fortran_order else "C"
    assert header.data_offset + header.data_size == len(data)
    return np.ndarray(header.shape, header.dtype, data, header.data_offset, order=order)


def _same(ours: np.ndarray, numpys: np.ndarray) -> None:
    assert (ours.dtype, ours.shape) == (numpys.dtype, numpys.shape)
    if numpys.size > 1:  # (strides of empty and one-element arrays mean nothing)
        assert ours.strides == numpys.strides
    assert_same_value(ours, numpys)


@settings(max_examples=200, deadline=None)
@given(array=arrays())
def test_header_of_any_array_reads_as_numpy_reads_it(array: np.ndarray) -> None:
    written = npy.header_bytes(array) + bytes(npy.array_data_view(array))
    saved = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # (format 3.0 notices)
        np.save(saved, array)
    for data in (written, saved.getvalue()):
        _same(_as_read_by_us(data), np.load(io.BytesIO(data)))


@pytest.mark.parametrize(
    "text",
    [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,,)}",
        "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (3,)}",
        "{'descr': '<f4', 'fortran_order': False}",
        "{'descr': '<q9', 'fortran_order': False, 'shape': (3,)}",
        "__import__('os')",
    ],
)
def test_malformed_header_is_refused_with_value_error(text: str) -> None:
    body = text.encode("latin1") + b"\n"
    data = b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body
    with pytest.raises(ValueError, match="unreadable .npy header"):
        npy.read_header(io.BytesIO(data))


def _header_text(data: bytes) -> str:
    size = npy.header_size(data)
    return data[len(b"\x93NUMPY") + 4 : size].decode("latin1")  # (format 1.0: 2 length bytes)


@settings(max_examples=200, deadline=None)
@given(array=arrays())
def test_every_plain_header_is_parsed_by_string_methods_as_the_python_literal_reads_it(
    array: np.ndarray,
) -> None:
    if array.dtype.names is not None:
        return  # (structured and sub-array dtypes go the general way: see the next test)
    saved = io.BytesIO()
    np.save(saved, array)
    for data in (npy.header_bytes(array), saved.getvalue()):
        text = _header_text(data)
        plain = npy._parse_plain(text)
        assert plain is not None, text  # the fast path takes what both writers write
        assert plain == npy._parse_any(text), text


@pytest.mark.parametrize(
    "text",
    [
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4,), }",  # a comma no repr writes
        "{'descr': '<f4', 'fortran_order': False, 'shape': (03,), }",  # a leading zero
        "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'extra': 1}",
        "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (3,), }",
        "{'descr': '<f4' , 'fortran_order': False, 'shape': (3,), }",  # other spacing
        "{'fortran_order': False, 'descr': '<f4', 'shape': (3,), }",
    ],
)
def test_a_header_the_string_parser_does_not_take_exactly_is_left_to_the_general_parser(
    text: str,
) -> None:
    assert npy._parse_plain(text) is None
