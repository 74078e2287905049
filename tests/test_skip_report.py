"""The one skip report of every reader: counts by reason, a few examples, its log lines and its attributes."""

from __future__ import annotations

import logging

import pytest

from mosei_attn.data.cache.tally import NOTE_SILENT, extraction_attrs, extraction_reports
from mosei_attn.data.skip_report import SKIP_REASONS, SkipReport


def test_counts_keep_a_few_examples_and_log_in_reason_order(caplog):
    report = SkipReport("corpus reader", reasons=SKIP_REASONS, max_examples=2)
    report.add("zero length", ["a[0]"])
    report.add("no audio file", ["b[0]", "b[1]", "b[2]"])
    report.add("no words", [])  # nothing to count
    assert report == {"no audio file": 3, "zero length": 1}
    assert report.example_dict == {"zero length": ["a[0]"], "no audio file": ["b[0]", "b[1]"]}
    with caplog.at_level(logging.INFO):
        report.log()
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "corpus reader: skipped 3 segment(s): no audio file (e.g. b[0]; b[1])",
        "corpus reader: skipped 1 segment(s): zero length (e.g. a[0])",
    ]
    with pytest.raises(ValueError, match="unknown skip reason 'no sound'"):
        report.add("no sound", ["c[0]"])


def test_rows_with_details_describe_and_an_empty_report(caplog):
    report = SkipReport("manifest reader", unit="row")
    report.add("bad split", ["row 4"], "'dev'")
    report.add("empty transcript", ["row 6"])
    assert report.describe(1) == "row 4: bad split ('dev')"
    assert report.example_dict["bad split"] == ["row 4 ('dev')"]
    with caplog.at_level(logging.INFO):
        SkipReport("manifest reader", unit="row").log()
    assert caplog.records[-1].getMessage() == "manifest reader: no rows skipped"


def test_the_cache_build_continues_the_readers_report():
    reader = SkipReport("manifest reader", unit="row")
    reader.add("bad split", ["row 4"])
    skipped, notes = extraction_reports("x.h5", reader)
    skipped.add("unreadable audio file", ["a[0]: bad header"])
    notes.add(NOTE_SILENT, ["b[0]"])
    attrs = extraction_attrs(skipped, notes)
    assert attrs["skipped"] == {"bad split": 1, "unreadable audio file": 1}
    assert attrs["skipped_examples"]["bad split"] == ["row 4"]
    assert attrs["audio_notes"] == {"counts": {NOTE_SILENT: 1}, "examples": {NOTE_SILENT: ["b[0]"]}}


def test_extra_cache_attributes_may_not_replace_the_builds_skip_report() -> None:
    from mosei_attn.data.cache.columns import checked_labels

    for key in ("skipped", "skipped_examples", "audio_notes"):
        with pytest.raises(ValueError, match=key):
            checked_labels([], ["sentiment"], {key: {}})


def test_a_skip_report_is_still_a_counter() -> None:
    report = SkipReport("corpus", reasons=("missing audio", "empty transcript"))
    report.add("missing audio", ["a", "b"])
    report.add("empty transcript", ["c"])
    assert report.most_common(1) == [("missing audio", 2)]  # Counter's own methods call self.items()
    assert [e[0] for e in report.entries] == ["a", "b", "c"]
