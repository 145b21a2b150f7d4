"""Reading inputs: every bad file is an InputError that names the file and says where."""

from __future__ import annotations

import numpy as np
import pytest

from fabsight.errors import InputError
from fabsight.evaluate.io import align_ids, read_json, read_json_or_lines, read_records


def _error(tmp_path, content: bytes, reader=read_json, name="f.json") -> str:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(InputError) as info:
        reader(path)
    assert info.value.path == str(path)
    return info.value.message


def test_empty_and_blank_files(tmp_path):
    assert _error(tmp_path, b"") == "is empty"
    assert _error(tmp_path, b"\n \t\r\n") == "is empty"


def test_malformed_json_gives_line_and_column(tmp_path):
    message = _error(tmp_path, b'{\n  "a": [1, 2,\n  ]\n}')
    assert message.startswith("not valid JSON") and "line 3, column 3" in message


def test_json_lines_error_gives_the_line_of_the_file(tmp_path):
    message = _error(tmp_path, b'{"id": 1}\n{"id": 2}\n\n{"id": 3,,}\n', read_json_or_lines)
    assert "line 4, column 10" in message


def test_non_utf8_gives_the_byte_offset(tmp_path):
    message = _error(tmp_path, b'{"caption": "edge ring \xff"}')
    assert "not UTF-8" in message and "byte 0xff at byte offset 23" in message


def test_a_binary_file_is_named_as_one(tmp_path):
    np.savez(tmp_path / "maps.npz", maps=np.zeros((2, 3, 3), np.uint8))
    message = _error(tmp_path, (tmp_path / "maps.npz").read_bytes(), name="preds.npz")
    assert message == "is a binary file, not text: this takes a UTF-8 text file"


def test_byte_offset_counts_a_bom(tmp_path):
    assert "byte offset 6" in _error(tmp_path, b"\xef\xbb\xbf{\"a\xff\": 1}")


def test_bom_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b'\xef\xbb\xbf{"1": "a"}')
    assert read_json(path) == {"1": "a"}


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        read_json(tmp_path / "nope.json")
    with pytest.raises(InputError, match="is a folder"):
        read_json(tmp_path)


def test_json_lines_detected_in_a_json_file(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('{"id": 1, "label": "a"}\n{"id": 2, "label": "b"}\n')
    assert read_records(path, "label") == [{"id": 1, "label": "a"}, {"id": 2, "label": "b"}]


def test_csv_row_longer_than_header(tmp_path):
    assert "line 3: more cells than the header" in _error(tmp_path, b"id,label\n1,a\n2,b,c\n",
                                                         lambda p: read_records(p, "label"), "f.csv")


def test_missing_ids_are_named_with_a_count(tmp_path):
    with pytest.raises(InputError) as info:
        align_ids([str(i) for i in range(12)], {"0", "1"}, tmp_path / "p.json")
    assert info.value.message == ("10 prediction id(s) are not in the references: '2', '3', '4', '5', '6' "
                                  "and 5 more")


def test_unscored_references_warn(tmp_path):
    with pytest.warns(UserWarning, match="2 reference id"):
        assert align_ids(["a"], ["a", "b", "c"], tmp_path / "p.json") == ["a"]
