"""Run files survive a run killed mid-write: a torn last line is ignored and
the next row starts on a line of its own."""

from __future__ import annotations

from services.evaluation.records import RowWriter, read_rows


def test_torn_last_line_and_latest_row_wins(tmp_path):
    path = tmp_path / "responses.jsonl"
    path.write_text('{"id": "a", "error": {"code": "X"}}\n{"id": "b", "respo')
    assert list(read_rows(path)) == ["a"]
    with RowWriter(path) as writer:
        writer.write({"id": "a", "response": "retried"})
        writer.write({"id": "b", "response": "done"})
    rows = read_rows(path)
    assert rows["a"] == {"id": "a", "response": "retried"}
    assert rows["b"]["response"] == "done"
