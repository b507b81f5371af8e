"""The command line's own checks, before any subcommand runs."""

import pytest

from deepvalue.cli import main


@pytest.mark.parametrize("command", ["synth", "simulate"])
def test_too_few_clients_names_the_subcommand(command, capsys, tmp_path):
    extra = ["--out", str(tmp_path / "x")]
    assert main([command, "--clients", "10", *extra]) == 2
    assert capsys.readouterr().err.strip() == f"deepvalue {command}: --clients must be at least 50"


def test_init_clients_is_a_file_not_a_count(capsys, tmp_path):
    # init's --clients names a table: the count check must not read it; a missing file gets init's own message
    code = main(
        [
            "init",
            "--clients",
            str(tmp_path / "none.csv"),
            "--contacts",
            str(tmp_path / "c.csv"),
            "--outcomes",
            str(tmp_path / "o.csv"),
            "--out",
            str(tmp_path / "study.yaml"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert "--clients must be at least 50" not in err
    assert "none.csv" in err
