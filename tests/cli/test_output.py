"""``emit``, the one call every listing command makes, pinned byte for byte in each format:
the 80-column table (chosen columns, shortened cells, long text wrapped between words), the
--wide table (more columns, nothing shortened), JSON lines (every key of every row) and CSV
(the listed columns). Written before rendering moved to ``pacsguard.render``, so that the move
is proven to change nothing."""

from __future__ import annotations

import pytest

from pacsguard.cli.output import emit
from tests.render.samples import COLUMNS, ROWS, TABLE_COLUMNS, TITLE


def _lines(*lines: str, width: int = 80) -> str:
    """Rich pads every line of a table to the table's width."""
    return "".join(line.ljust(width) + "\n" for line in lines)


@pytest.fixture(autouse=True)
def eighty_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")


def test_the_table_shows_the_chosen_columns_shortened_and_wraps_only_the_long_text(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "table", title=TITLE, table_columns=TABLE_COLUMNS)
    assert capsys.readouterr().out == _lines(
        "3 advisory x machine results",
        "status        machine  last seen   CVEs              why",
        "─" * 80,
        "affected      7        2026-11-27  CVE-2021-27410    the model and version 3.1",
        "                                   +2 more           lie in the affected range",
        "                                                     the advisory names, and no",
        "                                                     fix is recorded for this",
        "                                                     machine",
        "needs review  12       2026-01-02                    vendor named, product \"Vue",
        "                                                     PACS\" unknown, Größe, 1,5",
        "                                                     mm",
        "fixed         3                    CVE-2019-1",
    )


def test_the_wide_table_shows_every_column_in_full(capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "table", title=TITLE, table_columns=TABLE_COLUMNS, wide=True)
    assert capsys.readouterr().out == _lines(
        "3 advisory x machine results",
        "id  status        last seen                  CVEs              CVSS  why",
        "─" * 80,
        "7   affected      2026-11-27T10:15:00+00:00  CVE-2021-27410;   9.8   the model",
        "                                             CVE-2021-27412;         and version",
        "                                             CVE-2021-27414          3.1 lie in",
        "                                                                     the",
        "                                                                     affected",
        "                                                                     range the",
        "                                                                     advisory",
        "                                                                     names, and",
        "                                                                     no fix is",
        "                                                                     recorded",
        "                                                                     for this",
        "                                                                     machine",
        "12  needs review  2026-01-02T00:00:00+00:00                          vendor",
        "                                                                     named,",
        "                                                                     product",
        "                                                                     \"Vue PACS\"",
        "                                                                     unknown,",
        "                                                                     Größe, 1,5",
        "                                                                     mm",
        "3   fixed                                    CVE-2019-1        4.2",
    )


def test_the_wide_table_shows_the_wide_columns_when_a_command_names_them(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "table", wide_columns=["id", ("cvss", "score")], wide=True)
    assert capsys.readouterr().out == _lines(
        "id  score", "─" * 9, "7   9.8", "12", "3   4.2", width=9)


def test_a_table_without_rows_still_has_its_title_and_headers(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit([], COLUMNS, "table", title="0 machines", table_columns=["id", "status"])
    assert capsys.readouterr().out == _lines("0 machines", "id  status", "─" * 10, width=10)


def test_json_lines_carry_every_key_of_every_row_unescaped(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "json", title=TITLE, table_columns=TABLE_COLUMNS)
    assert capsys.readouterr().out == (
        '{"id": 7, "status": "affected", "seen": "2026-11-27T10:15:00+00:00", "cves": '
        '["CVE-2021-27410", "CVE-2021-27412", "CVE-2021-27414"], "cvss": 9.8, "why": "the '
        'model and version 3.1 lie in the affected range the advisory names, and no fix is '
        'recorded for this machine", "only_json": {"nested": true}}\n'
        '{"id": 12, "status": "needs review", "seen": "2026-01-02T00:00:00+00:00", "cves": [], '
        '"cvss": null, "why": "vendor named, product \\"Vue PACS\\" unknown, Größe, 1,5 mm", '
        '"only_json": null}\n'
        '{"id": 3, "status": "fixed", "seen": "", "cves": ["CVE-2019-1"], "cvss": 4.25, '
        '"why": null, "only_json": [1, 2]}\n')


def test_csv_carries_the_listed_columns_with_lists_joined_and_text_quoted(
        capsys: pytest.CaptureFixture[str]) -> None:
    emit(ROWS, COLUMNS, "csv", title=TITLE, table_columns=TABLE_COLUMNS)
    assert capsys.readouterr().out == (
        "id,status,last seen,CVEs,CVSS,why\n"
        "7,affected,2026-11-27T10:15:00+00:00,CVE-2021-27410; CVE-2021-27412; "
        'CVE-2021-27414,9.8,"the model and version 3.1 lie in the affected range the advisory '
        'names, and no fix is recorded for this machine"\n'
        '12,needs review,2026-01-02T00:00:00+00:00,,,"vendor named, product ""Vue PACS"" '
        'unknown, Größe, 1,5 mm"\n'
        "3,fixed,,CVE-2019-1,4.2,\n")
