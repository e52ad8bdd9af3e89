"""What likeness writes: created as the user's umask allows (a results folder a group, a
collaborator or a web server can read, as any file the user makes), secrets readable by
their owner only from the first byte, and every file whole or as it was."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from likeness.cli import main
from likeness.io import new_file_beside, replace_file, replacing
from study_support import make_study


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_replaced_files_take_the_umask_not_owner_only(tmp_path, mask):
    with umask(mask):
        replace_file(tmp_path / "a.txt", "text\n")
        with replacing(tmp_path / "b.bin") as stream:
            stream.write(b"\x00\x01")
    assert _mode(tmp_path / "a.txt") == 0o666 & ~mask
    assert _mode(tmp_path / "b.bin") == 0o666 & ~mask
    assert (tmp_path / "b.bin").read_bytes() == b"\x00\x01"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.bin"]


def test_a_private_file_is_private_whatever_the_umask(tmp_path):
    with umask(0):
        replace_file(tmp_path / "secret", "token\n", mode=0o600)
    assert _mode(tmp_path / "secret") == 0o600


def test_a_failed_write_leaves_the_file_as_it_was_and_no_temporary(tmp_path):
    target = tmp_path / "stats.npz"
    target.write_bytes(b"old")

    def killed_half_way() -> None:
        with replacing(target) as stream:
            stream.write(b"half of the new")
            raise RuntimeError("killed")

    with pytest.raises(RuntimeError, match="killed"):
        killed_half_way()
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["stats.npz"]


def test_a_link_planted_at_the_target_is_replaced_not_written_through(tmp_path):
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("keep")
    (tmp_path / "out.txt").symlink_to(elsewhere)
    replace_file(tmp_path / "out.txt", "new")
    assert elsewhere.read_text() == "keep"
    assert not (tmp_path / "out.txt").is_symlink()
    assert (tmp_path / "out.txt").read_text() == "new"


def test_new_files_are_made_exclusively_under_fresh_names(tmp_path):
    handles = [new_file_beside(tmp_path / "x", ".part") for _ in range(20)]
    assert len({path for _, path in handles}) == 20
    for handle, path in handles:
        os.close(handle)
        assert path.name.startswith(".x.")
        assert path.name.endswith(".part")


def test_a_results_folder_is_readable_as_the_umask_allows(golden, tmp_path):
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    shutil.copy(golden.image_path("astronaut.png"), ref / "a.png")
    shutil.copy(golden.image_path("astronaut__jpeg.png"), out / "a.png")
    with umask(0o022):
        result = CliRunner().invoke(main, ["compare", str(ref), str(out), "--metrics",
                                           "ssim,psnr", "--out-dir", str(tmp_path / "run"),
                                           "--no-cache", "--html"])
    assert result.exit_code == 0, result.output
    written = sorted((tmp_path / "run").iterdir())
    assert {p.name for p in written} >= {"run.json", "per_image.csv", "methods.md",
                                          "summary.tex", "report.html"}
    assert {p.name: _mode(p) for p in written} == {p.name: 0o644 for p in written}


def test_statistics_files_take_the_umask(fid_weights, golden, tmp_path):
    folder = tmp_path / "set"
    folder.mkdir()
    for name in ("astronaut.png", "coffee.png"):
        shutil.copy(golden.image_path(name), folder / name)
    stats = tmp_path / "set.npz"
    with umask(0o022):
        result = CliRunner().invoke(main, ["fid", str(folder), "--weights",
                                           str(fid_weights), "--save-stats", str(stats),
                                           "--no-cache"])
    assert result.exit_code == 0, result.output
    assert _mode(stats) == 0o644
    assert set(np.load(stats)) >= {"mu", "sigma"}


def test_a_study_s_admin_token_is_its_owner_s_alone_from_the_start(tmp_path):
    with umask(0):
        make_study(tmp_path / "study", per_participant=2)
    assert _mode(tmp_path / "study" / "admin-token") == 0o600
