"""The examples of docs/ANALYSIS.md run as doctests."""

import doctest
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "ANALYSIS.md"


def test_analysis_doc_examples():
    result = doctest.testfile(str(DOC), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0
