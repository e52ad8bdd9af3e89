"""The HTML report: content, escaping, self-containment, and a real headless browser.

Browser tests need Debian's ``chromium``; ``.ci/run`` installs it and sets
``LIKENESS_REQUIRE_CHROMIUM=1`` so that CI always runs them; elsewhere they are skipped
with a one-line notice when chromium is absent.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import likeness
from browser_support import CHROMIUM_FLAGS, chromium_path
from likeness.cli import main
from likeness.runs.report import build_report, write_report

MODELS = ("blur", "noise", "jpeg")
BASES = ("astronaut", "coffee", "rocket")
ODD_NAME = "x<script>alert(1)&y"  # "/" cannot be in a file name
@pytest.fixture(scope="module")
def results_dir(golden, stand_in, tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    (root / "ref").mkdir()
    for base in BASES:
        shutil.copy(golden.image_path(f"{base}.png"), root / "ref" / f"{base}.png")
    shutil.copy(golden.image_path("chelsea.png"), root / "ref" / f"{ODD_NAME}.png")
    for model in MODELS:
        (root / model).mkdir()
        for base in BASES:
            shutil.copy(golden.image_path(f"{base}__{model}.png"), root / model / f"{base}.png")
        shutil.copy(golden.image_path(f"chelsea__{model}.png"),
                    root / model / f"{ODD_NAME}.png")
    likeness.compare(root / "ref", [root / m for m in MODELS], metrics="ssim,psnr,lpips",
                     weights={"alexnet": str(stand_in["alexnet"])}, out_dir=root / "results",
                     cache=False)
    return root / "results"


def test_report_has_every_section_and_escapes_file_names(results_dir):
    text = build_report(results_dir, worst=3)
    for section in ("summary", "comparisons", "distributions", "scatter", "details",
                    "pairs"):
        assert f'<section id="{section}">' in text
    assert "&lt;script&gt;alert(1)&amp;y" in text
    assert "<script>alert" not in text
    assert text.count("<script>") == 1  # the table sorter
    assert "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in text
    assert len(re.findall(r'<img src="data:image/', text)) >= 3 * 4
    # each of the run's metrics with a map, by the run's computer: SSIM's and LPIPS's
    assert "<figcaption>SSIM map</figcaption>" in text
    assert "<figcaption>LPIPS (alex) map</figcaption>" in text
    assert "maps unavailable" not in text
    assert text.count('<tr id="row-') >= 12  # every pair in the table
    for model in MODELS:
        assert model in text


def test_maps_are_computed_only_for_the_pairs_shown(results_dir, monkeypatch):
    import likeness.evaluation.engines.maps as maps_module
    import likeness.runs.report as report_module

    computed = []
    original = maps_module.pair_maps

    def counting(computer, item, metrics):
        computed.append((item.model, item.test_name))
        return original(computer, item, metrics)

    monkeypatch.setattr(report_module, "pair_maps", counting)
    text = build_report(results_dir, worst=1)
    assert len(computed) == len(set(computed))
    # one per section at most: the disagreement, and each model's worst and best
    assert 1 <= len(computed) <= 1 + 2 * len(MODELS)
    assert text.count('class="card" id="pair-') == len(computed)


def test_cli_report_and_compare_html(results_dir, tmp_path, golden):
    runner = CliRunner()
    output = tmp_path / "report.html"
    result = runner.invoke(main, ["report", str(results_dir), "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert output.stat().st_size > 10_000
    ref, out = tmp_path / "ref", tmp_path / "out"
    ref.mkdir()
    out.mkdir()
    shutil.copy(golden.image_path("rocket.png"), ref / "a.png")
    shutil.copy(golden.image_path("rocket__noise.png"), out / "a.png")
    html_run = runner.invoke(main, ["compare", str(ref), str(out), "--out-dir",
                                    str(tmp_path / "res"), "--html", "--no-cache"])
    assert html_run.exit_code == 0, html_run.output
    assert (tmp_path / "res" / "report.html").is_file()
    needs_dir = runner.invoke(main, ["compare", str(ref), str(out), "--html"])
    assert needs_dir.exit_code == 2
    missing = runner.invoke(main, ["report", str(tmp_path)])
    assert missing.exit_code == 1
    assert "not a likeness results folder" in missing.stderr


@pytest.fixture(scope="module")
def chromium():
    return chromium_path()


def _browser(chromium, *arguments, cwd):
    return subprocess.run([chromium, *CHROMIUM_FLAGS, *arguments], capture_output=True,
                          text=True, timeout=120, cwd=cwd)


def test_report_renders_in_a_headless_browser(chromium, results_dir, tmp_path):
    report = write_report(results_dir, tmp_path / "report.html", worst=3)
    url = report.resolve().as_uri()
    dom = _browser(chromium, "--dump-dom", url, cwd=tmp_path).stdout
    for section in ("summary", "comparisons", "distributions", "scatter", "details",
                    "pairs"):
        assert f'id="{section}"' in dom
    assert dom.count("<img") >= 12
    assert dom.count("<svg") >= 4  # three box plots and the scatter
    assert "&lt;script&gt;alert(1)&amp;y" in dom
    assert len(re.findall(r"<script[\s>]", dom)) == 1
    summary = (results_dir / "summary.csv").read_text().splitlines()[1].split(",")
    assert f"{float(summary[3]):.4f}" in dom

    screenshot = tmp_path / "shot.png"
    _browser(chromium, "--window-size=1200,2400", f"--screenshot={screenshot}", url,
             cwd=tmp_path)
    pixels = np.asarray(Image.open(screenshot).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1200)
    assert pixels.std() > 20  # not blank
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500  # photographs and heatmaps


@pytest.mark.parametrize(("convention", "y_channel", "border"), [
    ("skimage", False, 3), ("wang2004", False, 5), ("basicsr", False, 0),
    ("basicsr", True, 0), ("matlab", True, 0), ("torchmetrics", False, 0)])
def test_the_ssim_map_is_the_runs_convention(golden, convention, y_channel, border):
    """The report's SSIM map comes from the run's computer: under each convention (and
    the Y channel) the mean of its windows inside the image is the run's SSIM."""
    from likeness.evaluation.catalog.registry import METRICS
    from likeness.evaluation.engines.built_networks import Networks
    from likeness.evaluation.engines.compute import ItemComputer
    from likeness.evaluation.engines.maps import pair_maps
    from likeness.evaluation.items.plan import Item
    from likeness.evaluation.items.settings import RunSettings

    pair = golden.pairs[0]
    reference, test = golden.image_path(pair["reference"]), golden.image_path(pair["test"])
    settings = RunSettings(("ssim",), y_channel=y_channel, ssim_convention=convention)
    computer = ItemComputer(["ssim"], settings, Networks())
    maps = pair_maps(computer, Item("m", reference, test, "r", "t"), ["ssim"])
    assert maps.failure is None
    assert maps.errors == {}
    local = maps.maps["ssim"]
    inside = local[border:-border, border:-border] if border else local
    value = likeness.compare_files(reference, test, metrics="ssim", y_channel=y_channel,
                                   ssim_convention=convention)["ssim"]
    assert abs(float(inside.mean()) - value) < 1e-9
    assert maps.views["ssim"] == (("Y channel",) if y_channel else ())
    assert METRICS["ssim"].has_map


def test_a_report_that_cannot_be_written_is_one_message(results_dir, tmp_path, monkeypatch):
    import errno

    import likeness.runs.report as report_module

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(report_module, "replace_file", full_disk)
    result = CliRunner().invoke(main, ["report", str(results_dir), "-o",
                                       str(tmp_path / "report.html")])
    assert result.exit_code == 1
    assert "cannot write" in result.output
    assert "No space left on device" in result.output
    assert "Traceback" not in result.output


def test_tables_changed_since_the_run_are_refused_not_reported(results_dir, tmp_path):
    """run.json keeps each table's SHA-256: a per_image.csv a spreadsheet saved again (or
    anyone edited) is refused, never shown as the run's values."""
    import shutil

    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    for name in ("per_image.csv", "summary.csv"):
        table = copy / name
        original = table.read_bytes()
        table.write_bytes(original.replace(b"\n", b"\r\n"))  # as a spreadsheet saves it
        result = CliRunner().invoke(main, ["report", str(copy)])
        assert result.exit_code == 1
        assert f"{name} changed since the run wrote it" in " ".join(result.output.split())
        assert "Traceback" not in result.output
        table.write_bytes(original)
    assert CliRunner().invoke(main, ["report", str(copy)]).exit_code == 0


def test_images_changed_since_the_run_are_not_pictured_beside_its_values(golden, stand_in,
                                                                         tmp_path):
    """The maps and thumbnails are computed from the files as they are now: an output
    rewritten since the run (a model trained further, same names) was pictured beside the
    values of the old one.  The run's database keeps the hashes it measured."""
    for folder in ("ref", "out"):
        (tmp_path / folder).mkdir()
        for base in BASES:
            name = f"{base}.png" if folder == "ref" else f"{base}__blur.png"
            shutil.copy(golden.image_path(name), tmp_path / folder / f"{base}.png")
    likeness.compare(tmp_path / "ref", tmp_path / "out", metrics="ssim,psnr",
                     out_dir=tmp_path / "results", cache=False)
    clean = CliRunner().invoke(main, ["report", str(tmp_path / "results")])
    assert clean.exit_code == 0
    assert "changed since the run" not in clean.stderr
    assert "changed since the run" not in (tmp_path / "results" / "report.html").read_text()
    changed = tmp_path / "out" / "coffee.png"
    shutil.copy(golden.image_path("coffee__noise.png"), changed)
    result = CliRunner().invoke(main, ["report", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    words = " ".join(result.stderr.split())
    assert (f"note: 1 file shown without pictures: changed since the run measured it "
            f"({changed}); run `likeness compare` again") in words
    page = (tmp_path / "results" / "report.html").read_text()
    assert f"{changed} changed since the run measured it" in page
    # a results folder that cannot be written (read-only, another user's): its database
    # is read without a byte written — SQLite's ordinary open failed there ("attempt to
    # write a readonly database"), and with it the report
    import sqlite3

    connect = sqlite3.connect

    def read_only_folder(database, *args, **kwargs):
        if str(database).endswith("progress.sqlite") and not kwargs.get("uri"):
            raise sqlite3.OperationalError("attempt to write a readonly database")
        return connect(database, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sqlite3, "connect", read_only_folder)
        result = CliRunner().invoke(main, ["report", str(tmp_path / "results"), "-o",
                                           str(tmp_path / "elsewhere.html")])
    assert result.exit_code == 0, result.output
    assert "note: 1 file shown without pictures" in " ".join(result.stderr.split())
    # a folder whose database is gone is reported as before, unjudged
    (tmp_path / "results" / "progress.sqlite").unlink()
    assert "changed since" not in CliRunner().invoke(
        main, ["report", str(tmp_path / "results")]).stderr
    # an image gone since the run is said on the terminal too, not only in the page
    gone = tmp_path / "ref" / "rocket.png"
    gone.unlink()
    result = CliRunner().invoke(main, ["report", str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    assert (f"note: 1 pair shown without pictures: out: rocket.png vs rocket.png ({gone}: "
            "no such file)") in " ".join(result.stderr.split())


def test_a_results_folder_s_file_without_read_permission_is_one_message(results_dir, tmp_path,
                                                                         monkeypatch):
    """A per_image.csv without read permission (measured as another user) ended `report` in
    "unexpected PermissionError … a bug"; an unreadable run.json was called "not a likeness
    results folder" by `report` and "a run.json which likeness did not write" by `compare`.
    Root reads every file, so reading those names fails as it fails for that user."""
    import errno
    import pathlib

    import likeness.documents as documents
    import likeness.results.html as html

    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    denied = {"run.json"}

    def deny(path):
        if pathlib.Path(path).name in denied:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    for method in ("read_text", "open"):
        original = getattr(pathlib.Path, method)

        def guarded(self, *args, _original=original, **kwargs):
            deny(self)
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(pathlib.Path, method, guarded)
    file_digest = html.file_digest
    monkeypatch.setattr(html, "file_digest", lambda path: deny(path) or file_digest(path))
    open_file = documents.open_file  # what every reader of a results folder's files opens
    monkeypatch.setattr(documents, "open_file", lambda path: deny(path) or open_file(path))
    for name, command in (("run.json", ["report", str(copy)]),
                          ("run.json", ["compare", str(results_dir.parent / "ref"),
                                        str(results_dir.parent / "blur"), "--no-cache",
                                        "--out-dir", str(copy)]),
                          ("per_image.csv", ["report", str(copy)])):
        denied = {name}
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1, result.output
        assert " ".join(result.stderr.split()).startswith(
            f"error: {copy / name}: cannot be read (Permission denied): make it readable")
        assert "bug" not in result.output


def test_a_run_record_that_is_not_one_or_from_a_later_version_is_one_message(results_dir,
                                                                             tmp_path):
    """run.json of another shape (a list, settings emptied), naming a metric this likeness
    does not know — written by a later version, or edited — or a later version's record
    this one cannot read is one message saying which."""
    import json

    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    record_path = copy / "run.json"
    signed = json.loads(record_path.read_text(encoding="utf-8"))
    # as a record written before likeness signed them (the checks a signature cannot make)
    original = {key: value for key, value in signed.items() if key != "record_sha256"}
    later = {**original, "likeness_version": "9.0.0",
             "settings": {**original["settings"], "metrics": [*original["settings"]["metrics"],
                                                              "ssim_9"]}}
    edited = {**later, "likeness_version": likeness.__version__}
    for record, message in (([], "run.json is not a likeness run record"),
                            ({**original, "settings": None}, "is not a likeness run record"),
                            (later, "names metric ssim_9, which likeness "
                                    f"{likeness.__version__} does not know (the folder was "
                                    "written by likeness 9.0.0)"),
                            (edited, "the record was edited or damaged"),
                            ({**original, "decisions": 5}, "run.json was edited or damaged "
                                                           "(decisions is int, not dict)"),
                            ({**original, "likeness_version": "9.0.0", "decisions": 5},
                             "run.json was written by likeness 9.0.0, whose record likeness "
                             f"{likeness.__version__} cannot read"),
                            ({**original, "unmatched": {"ref": None}},
                             "run.json has a part likeness cannot read (UndefinedError: "
                             "'None' has no attribute 'reference'): it was edited, or written "
                             "before likeness signed its records")):
        record_path.write_text(json.dumps(record), encoding="utf-8")
        result = CliRunner().invoke(main, ["report", str(copy)])
        assert result.exit_code == 1
        assert message in " ".join(result.output.split()), result.output
        assert "a bug in likeness" not in result.output


def test_a_signed_run_record_changed_anywhere_after_the_run_is_refused(results_dir, tmp_path):
    """run.json carries the digest of its parts: an edit at any depth (a decision's
    count, a path in the settings, a part of another kind) is refused with one message;
    the same record laid out otherwise (indented, keys reordered) still reads."""
    import json

    copy = tmp_path / "results"
    shutil.copytree(results_dir, copy)
    record_path = copy / "run.json"
    signed = json.loads(record_path.read_text(encoding="utf-8"))
    assert len(signed["record_sha256"]) == 64
    relaid = json.dumps(dict(reversed(list(signed.items()))), indent=4)
    record_path.write_text(relaid, encoding="utf-8")
    assert CliRunner().invoke(main, ["report", str(copy)]).exit_code == 0
    signed = json.loads(record_path.read_text(encoding="utf-8"))  # now listing report.html
    assert "report.html" in signed["files"]
    model = next(iter(signed["unmatched"]))
    judgments = tmp_path / "judgments.csv"
    judgments.write_text("participant,item,a,b,choice\np1,x.png,one,two,one\n")
    for edit in ({"unmatched": {model: None}}, {"pairs_failed": signed["pairs_failed"] + 1},
                 {"settings": {**signed["settings"], "reference": 1.5}},
                 {"decisions": {"a decision the run never took": 3}}):
        record_path.write_text(json.dumps({**signed, **edit}), encoding="utf-8")
        for command in (["report", str(copy)],
                        ["study", "analyze", "--judgments", str(judgments), "--out-dir",
                         str(tmp_path / "analysis"), "--results", str(copy)]):
            result = CliRunner().invoke(main, command)
            said = " ".join(result.output.split())
            assert result.exit_code != 0
            assert "run.json was changed after the run" in said, (edit, said)
            assert "a bug in likeness" not in said


@pytest.mark.parametrize(("arguments", "message"), [
    ({"worst": 0}, "worst must be a whole number from 1 to 100, got 0"),
    ({"worst": 2.5}, "worst must be a whole number, got 2.5"),
    ({"thumbnail": 0}, "thumbnail must be a whole number from 32 to 2048, got 0"),
    ({"disagree": "ssim"}, "disagree must be two metric names or None, got 'ssim'"),
    ({"output": 5}, "output must be a path or None, got 5")])
def test_report_options_are_bounded_as_the_command_line_bounds_them(results_dir, arguments,
                                                                    message):
    """A thumbnail of 0 px divided by zero, a worst of 2.5 failed in a slice."""
    with pytest.raises(likeness.LikenessError, match=re.escape(message)):
        likeness.write_report(results_dir, **arguments)


def test_psnr_of_identical_images_takes_part_in_the_metrics_agreement():
    """Pairs whose PSNR is +inf (an output identical to its reference) are PSNR's best,
    and SSIM's (1.0): they count in Kendall's τ and in the overall ranks, not left out."""
    from scipy.stats import kendalltau

    from likeness.results.agreement import agreements, disagreement, overall_ranks

    values = [{"psnr": np.inf, "ssim": 1.0}, {"psnr": np.inf, "ssim": 1.0},
              {"psnr": 30.0, "ssim": 0.9}, {"psnr": 25.0, "ssim": 0.8},
              {"psnr": 20.0, "ssim": 0.85}]
    (found,) = agreements(values, ["psnr", "ssim"])
    assert found.n == 5  # was 3: the exact outputs left out
    assert found.tau == pytest.approx(
        kendalltau([9, 9, 3, 2, 1], [1.0, 1.0, 0.9, 0.8, 0.85]).statistic)
    assert set(disagreement(values, "psnr", "ssim")) == set(range(5))
    ranks = overall_ranks(values, ["psnr", "ssim"])
    assert ranks[0] == ranks[1] == max(ranks.values())  # the exact outputs are the best


def test_a_style_run_s_report_counts_stylizations_shown_without_pictures(golden, tmp_path):
    """A style run's report called its stylizations "pairs" when their pictures failed."""
    root = tmp_path / "style"
    shutil.copytree(golden.root / "style", root)
    likeness.evaluate_style(root / "content", root / "style", root / "stylized",
                            metrics="ssim", out_dir=tmp_path / "run", cache=False)
    gone = sorted((root / "content").iterdir())[0]
    gone.unlink()
    result = CliRunner().invoke(main, ["report", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    words = " ".join(result.stderr.split())
    assert "stylizations shown without pictures: " in words, words
    assert f"({gone}: no such file)" in words
    assert " pair" not in words


def test_a_style_run_s_report_page_speaks_of_methods_and_stylizations(golden, tmp_path):
    """A style run's report page headed its sections "Worst pair per metric", "Pairs in
    detail", "Every pair" and listed its "models"."""
    root = tmp_path / "style"
    shutil.copytree(golden.root / "style", root)
    likeness.evaluate_style(root / "content", root / "style", root / "stylized",
                            metrics="ssim,ssim-gray", out_dir=tmp_path / "run", cache=False)
    page = build_report(tmp_path / "run")
    text = re.sub(r"<(style|script)>.*?</\1>", " ", page, flags=re.DOTALL)
    text = " ".join(re.sub(r"<[^>]+>", " ", text).split())
    for heading in ("Worst stylization per metric", "Stylizations in detail",
                    "Every stylization", "Distributions per method"):
        assert heading in text, heading
    assert "methods: " in text
    assert "One point per stylization" in text
    assert not re.search(r"\b[Pp]airs?\b", text), re.findall(r".{40}\b[Pp]airs?\b.{40}", text)
    assert not re.search(r"\b[Mm]odels?\b", text), re.findall(r".{40}\b[Mm]odels?\b.{40}",
                                                              text)
