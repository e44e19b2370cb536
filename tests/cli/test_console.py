"""Tables written to a pipe or a log: one line per row, however long the row."""

import typer
from rich.table import Table
from typer.testing import CliRunner

from lfmcli.cli.build_dataset import _print_refinement
from lfmcli.cli.common import out


def test_tables_off_a_terminal_keep_each_row_on_one_line():
    name = "animalsyn3d/" + "a_long_sequence_name_" * 6
    app = typer.Typer()

    @app.command()
    def show() -> None:
        row = {"rms_before": 0.1, "rms_after": 0.01, "bone_cv_before": 0.05, "bone_cv_after": 1e-5}
        _print_refinement([{"sequence": name, "frames": 90, **row}])  # on stderr
        table = Table(title="a table of results")
        table.add_column("sequence")
        table.add_column("frames", justify="right")
        table.add_row(name, "90")
        out.print(table)  # on stdout

    r = CliRunner().invoke(app, [])  # CliRunner's streams are no terminal
    assert r.exit_code == 0, r.output
    for stream in (r.stderr, r.stdout):
        lines = stream.splitlines()
        assert len([line for line in lines if name in line]) == 1, stream
        assert any("sequence" in line and "frames" in line for line in lines)  # the header too
        assert max(map(len, lines)) > 150  # wider than the 80 columns rich falls back to
