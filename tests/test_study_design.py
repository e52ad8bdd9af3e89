"""``likeness study create`` and the design: balanced, randomised, deterministic; the study
folder; the offline form's answer files and ``likeness study export``."""

from __future__ import annotations

import json
import re
import shutil
from collections import Counter
from itertools import combinations

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from likeness.cli import main
from likeness.errors import InvalidInputError, LikenessError
from likeness.study import Design, Trial, create_study, open_study
from likeness.study.export import judgments, read_offline_answers
from likeness.study.pages import offline_form
from study_support import SAMPLES, make_study

MODELS = ("a", "b", "c", "d")
ITEMS = tuple(f"item{i}" for i in range(5))


def _design(**settings):
    return Design(("closer",), ITEMS, MODELS, **settings)


def test_the_complete_design_shows_every_comparison_once_to_every_participant():
    design = _design(seed=3)
    every = {(q, i, frozenset(group)) for q, i, group in design.comparisons()}
    assert len(every) == 5 * 6
    for participant in range(4):
        shown = [(t.question, t.item, frozenset((t.left, t.right)))
                 for t in design.trials(participant)]
        assert len(shown) == len(every)
        assert set(shown) == every


def test_sides_alternate_so_each_comparison_is_balanced_over_two_participants():
    design = _design(seed=1)
    first, second = design.trials(0), design.trials(1)
    sides = {(t.item, t.left, t.right) for t in first}
    assert {(t.item, t.right, t.left) for t in second} == sides
    lefts = Counter(t.left for t in first + second)
    assert len(set(lefts.values())) == 1  # every model on the left equally often


def test_orders_differ_between_participants_and_repeat_for_the_same_one():
    design = _design(seed=0)
    assert design.trials(5) == design.trials(5)
    assert [t.item for t in design.trials(0)] != [t.item for t in design.trials(2)]
    assert _design(seed=1).trials(0) != design.trials(0)


def test_an_incomplete_design_shows_every_comparison_equally_often():
    design = _design(seed=2, per_participant=7)
    counts = Counter((t.item, frozenset((t.left, t.right))) for p in range(30)
                     for t in design.trials(p))
    assert len(counts) == 30
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == 30 * 7
    shown = Counter((t.item, t.left, t.right) for p in range(60) for t in design.trials(p))
    for (item, left, right), count in shown.items():  # 60 × 7 = 14 showings each
        assert count == shown[(item, right, left)] == 7


def test_repeats_come_after_their_comparison_with_sides_swapped():
    design = _design(seed=4, repeats=3)
    for participant in range(5):
        trials = design.trials(participant)
        repeats = [t for t in trials if t.kind == "repeat"]
        assert len(repeats) == 3
        for repeat in repeats:
            original = next(t for t in trials if t.kind == "compare"
                            and (t.item, t.left, t.right) == (repeat.item, repeat.right,
                                                              repeat.left))
            assert original.number < repeat.number


def test_attention_checks_are_spread_never_first_and_name_their_answer():
    design = _design(seed=5, attention_checks=3, attention_pool=(("item0", "a"),
                                                                 ("item1", "c")))
    for participant in range(10):
        trials = design.trials(participant)
        checks = [t for t in trials if t.kind == "attention"]
        assert len(checks) == 3
        assert trials[0].kind != "attention"
        for check in checks:
            assert {check.left, check.right} == {check.expected,
                                                 check.expected + " (degraded)"}
        assert [t.number for t in trials] == list(range(len(trials)))
        assert len(trials) == design.trials_per_participant == 30 + 3


@pytest.mark.parametrize(("settings", "words"), [
    ({"models": ("a",)}, "at least two distinct models"),
    ({"models": ("a", "a")}, "at least two distinct models"),
    ({"items": ()}, "at least one item"),
    ({"per_participant": 0}, "per_participant must be at least 1"),
    ({"attention_checks": 1}, "attention_pool"),
])
def test_impossible_designs_are_refused(settings, words):
    arguments = {"questions": ("closer",), "items": ITEMS, "models": MODELS, **settings}
    with pytest.raises(InvalidInputError, match=words):
        Design(**arguments)


def test_create_writes_a_study_of_the_samples(tmp_path):
    study = make_study(tmp_path / "study", per_participant=2)
    reopened = open_study(tmp_path / "study")
    assert reopened.design == study.design
    assert reopened.design.items == ("astronaut.png", "coffee.png", "rocket.png")
    assert reopened.design.trials_per_participant == 2 + 2 + 2
    for path in reopened.images.values():
        with Image.open(path) as image:
            assert image.format == "PNG"
            assert image.mode in ("RGB", "L")
    reference = np.asarray(Image.open(SAMPLES / "reference" / "astronaut.png").convert("RGB"))
    shown = reopened.items_by_id["astronaut.png"]["reference"]
    assert np.array_equal(np.asarray(Image.open(reopened.images[shown])), reference)
    assert (tmp_path / "study" / "admin-token").stat().st_mode & 0o077 == 0


def test_items_missing_a_model_are_left_out_and_recorded(tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(SAMPLES / "jpeg", partial)
    (partial / "rocket.png").unlink()
    result = CliRunner().invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                       str(partial), str(SAMPLES / "stylized"), "--out-dir",
                                       str(tmp_path / "study")])
    assert result.exit_code == 0, result.output
    assert "1 item left out: not every model has an output for them (rocket.png)" \
        in result.output
    assert open_study(tmp_path / "study").design.items == ("astronaut.png", "coffee.png")


def test_sixteen_bit_images_are_shown_in_eight_bits_and_recorded(tmp_path):
    deep = tmp_path / "deep"
    deep.mkdir()
    for path in (SAMPLES / "jpeg").iterdir():
        pixels = np.asarray(Image.open(path).convert("L")).astype(np.uint16) * 257
        Image.fromarray(pixels).save(deep / path.name)
    created = create_study(tmp_path / "study2", {"deep": deep, "jpeg": SAMPLES / "jpeg"},
                           reference=SAMPLES / "reference")
    # each file once, although the attention checks read the outputs again
    assert "3 16-bit images shown rounded to 8 bits (browsers show 8 bits per channel)" \
        in created.manifest["decisions"]


def test_items_whose_models_show_identical_pixels_are_recorded(tmp_path):
    # a model folder holding another's outputs (or its inputs): the participants' choice
    # between the two is a coin flip, which the study says instead of counting it as taste
    copied = tmp_path / "copied"
    shutil.copytree(SAMPLES / "stylized", copied)
    shutil.copy(SAMPLES / "jpeg" / "coffee.png", copied / "coffee.png")
    created = create_study(tmp_path / "study", {"jpeg": SAMPLES / "jpeg", "copied": copied,
                                                "stylized": SAMPLES / "stylized"},
                           reference=SAMPLES / "reference")
    said = [d for d in created.manifest["decisions"] if "identical pixels" in d]
    assert said == ["3 items where models show identical pixels (a choice between them is "
                    "a coin flip): astronaut.png: copied = stylized; coffee.png: jpeg = "
                    "copied; rocket.png: copied = stylized"]
    plain = create_study(tmp_path / "plain", {"jpeg": SAMPLES / "jpeg",
                                              "stylized": SAMPLES / "stylized"},
                         reference=SAMPLES / "reference")
    assert not [d for d in plain.manifest["decisions"] if "identical pixels" in d]


def test_a_style_study_shows_content_and_style(tmp_path):
    root = SAMPLES / "style-transfer"
    other = tmp_path / "other"
    shutil.copytree(root / "stylized", other)
    result = CliRunner().invoke(main, ["study", "create", "--content", str(root / "content"),
                                       "--style", str(root / "style"),
                                       str(root / "stylized"), str(other), "--out-dir",
                                       str(tmp_path / "study")])
    assert result.exit_code == 0, result.output
    study = open_study(tmp_path / "study")
    assert study.manifest["questions"][0]["id"] == "style"
    item = study.manifest["items"][0]
    assert " + " in item["id"]
    assert item["style"] is not None


@pytest.mark.parametrize(("arguments", "words"), [
    (["REF", "JPEG"], "at least two models"),
    (["REF", "JPEG", "STYLIZED", "--question", "what?"], "neither a preset"),
    (["REF", "JPEG", "STYLIZED", "--question", "closer", "--question", "closer"],
     "share an id"),
    (["--content", "REF", "JPEG", "STYLIZED"], "needs both --content and --style"),
    (["REF", "JPEG", "MISSING"], "MISSING"),
])
def test_create_refuses_what_cannot_be_a_study(tmp_path, arguments, words):
    names = {"REF": str(SAMPLES / "reference"), "JPEG": str(SAMPLES / "jpeg"),
             "STYLIZED": str(SAMPLES / "stylized"), "MISSING": str(tmp_path / "missing")}
    arguments = [names.get(a, a) for a in arguments]
    result = CliRunner().invoke(main, ["study", "create", *arguments, "--out-dir",
                                       str(tmp_path / "study")])
    assert result.exit_code != 0
    assert words.replace("MISSING", str(tmp_path / "missing")) in result.output
    assert "Traceback" not in result.output


def test_create_never_overwrites_answers_or_other_files(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    arguments = ["study", "create", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"),
                 str(SAMPLES / "stylized"), "--out-dir", str(folder)]
    result = CliRunner().invoke(main, [*arguments, "--overwrite"])
    assert result.exit_code == 1
    assert "not empty" in result.output
    (folder / "notes.txt").unlink()
    assert CliRunner().invoke(main, arguments).exit_code == 0
    assert CliRunner().invoke(main, [*arguments, "--overwrite"]).exit_code == 0
    (folder / "answers.sqlite").write_bytes(b"")
    result = CliRunner().invoke(main, [*arguments, "--overwrite"])
    assert result.exit_code == 1
    assert "holds a study with answers" in result.output


def test_create_never_replaces_a_study_made_into_an_offline_form(tmp_path):
    # its answers come back as files naming its study id, read against its manifest: a
    # folder without answers.sqlite was replaced by --overwrite, and they could no longer
    # be exported ("the answers of another study")
    folder = tmp_path / "study"
    arguments = ["study", "create", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"),
                 str(SAMPLES / "stylized"), "--out-dir", str(folder)]
    assert CliRunner().invoke(main, arguments).exit_code == 0
    manifest = (folder / "study.json").read_text()
    offline = CliRunner().invoke(main, ["study", "offline", str(folder), "--out",
                                        str(tmp_path / "form.html")])
    assert offline.exit_code == 0, offline.output
    result = CliRunner().invoke(main, [*arguments, "--overwrite", "--seed", "7"])
    assert result.exit_code == 1
    assert "handed out to participants (made into an offline form" in result.stderr
    assert (folder / "study.json").read_text() == manifest
    # a record that cannot be read still protects the study
    (folder / "handouts.json").write_text("{")
    result = CliRunner().invoke(main, [*arguments, "--overwrite", "--seed", "7"])
    assert result.exit_code == 1
    assert "handouts.json cannot be read" in result.stderr


def test_a_corrupt_image_stops_create_with_its_name(tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(SAMPLES / "jpeg", broken)
    (broken / "coffee.png").write_bytes((broken / "coffee.png").read_bytes()[:300])
    result = CliRunner().invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                       str(broken), str(SAMPLES / "stylized"), "--out-dir",
                                       str(tmp_path / "study")])
    assert result.exit_code == 1
    assert "coffee.png" in result.output
    assert "no study was written" in result.output
    assert not (tmp_path / "study").exists()  # nothing half-written stays


def _answer_file(study, tmp_path, participant="0123abcd", slot=0, sides=None, **changes):
    trials = study.design.trials(slot if isinstance(slot, int) and slot >= 0 else 0)
    sides = sides or ["left"] * len(trials)
    document = {"format": "likeness-study-answers", "study_id": study.study_id,
                "participant": participant, "slot": slot,
                "answers": [{"trial": n, "choice": s, "rt_ms": 100}
                            for n, s in enumerate(sides)], **changes}
    path = tmp_path / f"answers-{len(list(tmp_path.iterdir()))}.json"
    path.write_text(json.dumps(document))
    return path


def test_offline_answers_become_judgments_of_their_slot(tmp_path):
    study = make_study(tmp_path / "study")
    answers = tmp_path / "answers"
    answers.mkdir()
    files = [_answer_file(study, answers, "0123abcd", 0),
             _answer_file(study, answers, "4567ef01", 1, ["right"] * 7)]
    rows = judgments(study, None, files)
    assert len(rows) == 2 * study.design.trials_per_participant
    second = [r for r in rows if r["participant"] == "offline-4567ef01"]
    trials = study.design.trials(1)
    assert [r["choice"] for r in second] == [t.right for t in trials]
    assert {r["source"] for r in rows} == {"offline"}


@pytest.mark.parametrize(("changes", "words"), [
    ({"study_id": "another"}, "another study"),
    ({"format": "x"}, "not an answer file"),
    ({"participant": "../../x"}, "participant id is malformed"),
    ({"slot": -1}, "design slot is malformed"),
    ({"slot": True}, "design slot is malformed"),
    ({"answers": [{"trial": 0, "choice": "up"}]}, "a pair's choice is left or right"),
    ({"answers": [{"trial": 0, "choice": 5}]}, "malformed answer"),
    ({"answers": [{"trial": 99, "choice": "left"}]}, "not a trial of this study"),
    ({"answers": [{"trial": 0, "choice": "left"}, {"trial": 0, "choice": "right"}]},
     "answered twice"),
    ({"answers": [{"trial": 0, "choice": "left", "rt_ms": -5}]}, "response time"),
])
def test_forged_or_damaged_answer_files_are_refused(tmp_path, changes, words):
    study = make_study(tmp_path / "study")
    answers = tmp_path / "answers"
    answers.mkdir()
    path = _answer_file(study, answers, **changes)
    with pytest.raises(LikenessError, match=words):
        read_offline_answers(study, [path], [])


def test_one_participant_twice_is_read_once_or_refused_when_the_answers_differ(tmp_path):
    study = make_study(tmp_path / "study")
    answers = tmp_path / "answers"
    answers.mkdir()
    first = _answer_file(study, answers)
    decisions: list[str] = []
    rows = read_offline_answers(study, [first, _answer_file(study, answers)], decisions)
    assert len(rows) == study.design.trials_per_participant
    assert "read once" in decisions[0]
    with pytest.raises(LikenessError, match="answered twice with different choices"):
        read_offline_answers(study, [first, _answer_file(study, answers,
                                                         sides=["right"] * 7)], [])


def test_export_merges_offline_answers_and_analyze_reads_them(tmp_path):
    study = make_study(tmp_path / "study")
    answers = tmp_path / "answers"
    answers.mkdir()
    files = []
    for number in range(4):
        trials = study.design.trials(number)
        sides = ["left" if t.left in ("jpeg",) or (t.kind == "attention"
                                                     and t.left == t.expected) else "right"
                 for t in trials]
        files.append(_answer_file(study, answers, f"{number:08x}", number, sides))
    runner = CliRunner()
    out = tmp_path / "judgments.csv"
    result = runner.invoke(main, ["study", "export", str(study.folder), "--out", str(out),
                                  *[a for f in files for a in ("--offline", str(f))]])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["study", "analyze", "--judgments", str(out), "--out-dir",
                                  str(tmp_path / "analysis"), "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert "excluded" not in result.output  # every attention check passed


def test_export_without_answers_says_what_to_do(tmp_path):
    study = make_study(tmp_path / "study")
    result = CliRunner().invoke(main, ["study", "export", str(study.folder), "--out",
                                       str(tmp_path / "j.csv")])
    assert result.exit_code == 1
    assert "has no answers yet" in result.output


def test_the_offline_form_carries_every_image_and_slot(tmp_path):
    study = make_study(tmp_path / "study")
    page = offline_form(study, 3)
    assert page.count("data:image/png;base64,") == len(study.images)
    data = json.loads(page.split('id="study-data">')[1].split("</script>")[0])
    assert len(data["designs"]) == 3
    assert data["study_id"] == study.study_id
    assert [v["trial"] for v in data["designs"][2]] == list(range(7))
    assert "</script" not in json.dumps(data).replace("\\u003c", "")


def test_pairs_of_models_are_every_pair():
    design = _design()
    pairs = {group for _, _, group in design.comparisons()}
    assert pairs == set(combinations(MODELS, 2))


def test_a_compare_study_is_analysed_with_the_metrics_of_the_same_folders(tmp_path):
    """The items of a study are the reference files as per_image.csv names them: analyze
    --results measures each metric's agreement with the participants."""
    study = make_study(tmp_path / "study")
    answers = tmp_path / "answers"
    answers.mkdir()
    files = []
    for number in range(4):
        sides = ["left" if t.left == (t.expected or "jpeg") else "right"
                 for t in study.design.trials(number)]
        files.append(_answer_file(study, answers, f"{number:08x}", number, sides))
    runner = CliRunner()
    out = tmp_path / "judgments.csv"
    arguments = [a for f in files for a in ("--offline", str(f))]
    assert runner.invoke(main, ["study", "export", str(study.folder), "--out", str(out),
                                *arguments]).exit_code == 0
    results = tmp_path / "results"
    result = runner.invoke(main, ["compare", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"),
                                  str(SAMPLES / "stylized"), "--metrics", "ssim,psnr",
                                  "--out-dir", str(results), "--no-cache"])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["study", "analyze", "--judgments", str(out), "--results",
                                  str(results), "--out-dir", str(tmp_path / "analysis"),
                                  "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    agreement = (tmp_path / "analysis" / "agreement.csv").read_text()
    assert "ssim" in agreement
    assert "psnr" in agreement


def test_a_ranking_design_shows_all_models_in_balanced_positions():
    design = Design(("quality",), ITEMS, MODELS, seed=7, ranking=True, repeats=1)
    assert len(design.comparisons()) == len(ITEMS)
    positions = Counter()
    for participant in range(4):  # every model at every position once per comparison
        trials = design.trials(participant)
        assert {t.kind for t in trials} == {"ranking", "repeat"}
        for trial in trials:
            assert sorted(trial.shown) == sorted(MODELS)
            if trial.kind == "ranking":
                positions.update((trial.item, model, place)
                                 for place, model in enumerate(trial.shown))
        repeat = next(t for t in trials if t.kind == "repeat")
        assert any(t.shown == repeat.shown[::-1] and t.item == repeat.item for t in trials
                   if t.kind == "ranking")
    assert set(positions.values()) == {1}
    assert len(positions) == len(ITEMS) * 4 * 4


@pytest.mark.parametrize(("choice", "ranked"), [("2,0,1,3", ("c", "a", "b", "d")),
                                                ("3,2,1,0", ("d", "c", "b", "a"))])
def test_a_ranking_choice_is_the_positions_best_first(choice, ranked):
    trial = Trial(0, "closer", "x", ("a", "b", "c", "d"), "ranking")
    assert trial.ranked(choice) == ranked
    assert trial.recorded(choice) == ">".join(ranked)


@pytest.mark.parametrize("choice", ["0,0,1,2", "0,1,2", "0,1,2,3,4", "a,b,c,d", "", "left",
                                    "0,1,2,4", "-1,0,1,2"])
def test_impossible_rankings_are_refused(choice):
    trial = Trial(0, "closer", "x", ("a", "b", "c", "d"), "ranking")
    with pytest.raises(InvalidInputError, match="positions 0-3, best first, each once"):
        trial.ranked(choice)


def test_a_ranking_is_exported_as_the_pairs_it_implies(tmp_path):
    third = tmp_path / "third"
    shutil.copytree(SAMPLES / "jpeg", third)
    study = create_study(tmp_path / "study", {"jpeg": SAMPLES / "jpeg", "stylized":
                                              SAMPLES / "stylized", "third": third},
                         reference=SAMPLES / "reference", ranking=True, repeats=0,
                         attention_checks=1)
    trials = study.design.trials(0)
    choices = ["left" if t.kind == "attention" and t.left == t.expected
               else "right" if t.kind == "attention" else "1,2,0" for t in trials]
    answers = tmp_path / "answers"
    answers.mkdir()
    rows = judgments(study, None, [_answer_file(study, answers, sides=choices)])
    ranking_rows = [r for r in rows if r["kind"] == "ranking"]
    assert len(ranking_rows) == 3 * 3
    assert len(rows) == 3 * 3 + 1
    for trial in trials:
        if trial.kind != "ranking":
            continue
        best, middle, worst = trial.shown[1], trial.shown[2], trial.shown[0]
        own = [r for r in ranking_rows if r["trial"] == str(trial.number)]
        assert {(r["a"], r["b"]) for r in own} == {(trial.shown[0], trial.shown[1]),
                                                   (trial.shown[0], trial.shown[2]),
                                                   (trial.shown[1], trial.shown[2])}
        chosen = {frozenset((r["a"], r["b"])): r["choice"] for r in own}
        assert chosen[frozenset((best, middle))] == best
        assert chosen[frozenset((best, worst))] == best
        assert chosen[frozenset((middle, worst))] == middle


def test_instructions_and_consent_texts_are_read_or_refused_in_their_own_words(tmp_path):
    """UTF-16 with its byte-order mark is read (as Notepad saves it); Latin-1 bytes are
    named, with what to save (they were "cannot be read as UTF-8 text ('utf-8' codec…)");
    a missing file is said missing."""
    (tmp_path / "notepad.txt").write_text("Choose the image closer to the reference.",
                                          encoding="utf-16")
    (tmp_path / "latin1.txt").write_bytes("Einverständnis".encode("latin-1"))
    arguments = ["study", "create", str(SAMPLES / "reference"), str(SAMPLES / "jpeg"),
                 str(SAMPLES / "stylized")]
    result = CliRunner().invoke(main, [*arguments, "--out-dir", str(tmp_path / "ok"),
                                       "--instructions", str(tmp_path / "notepad.txt")])
    assert result.exit_code == 0, result.output
    manifest = (tmp_path / "ok" / "study.json").read_text(encoding="utf-8")
    assert "Choose the image closer to the reference." in manifest
    for option, name, words in [("--consent", "latin1.txt", "is not UTF-8 text (byte 0xe4); "
                                 "save it as UTF-8, or UTF-16 with a byte-order mark"),
                                ("--instructions", "missing.txt", "missing.txt: no such file")]:
        out_dir = tmp_path / f"study-{name}"
        result = CliRunner().invoke(main, [*arguments, "--out-dir", str(out_dir), option,
                                           str(tmp_path / name)])
        assert result.exit_code == 2
        assert words in " ".join(result.output.split()), result.output
        assert not out_dir.exists()


def test_special_files_neither_hang_nor_are_written_through(tmp_path):
    import os

    study = make_study(tmp_path / "study")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    runner = CliRunner()
    result = runner.invoke(main, ["study", "export", str(study.folder), "--out",
                                  str(tmp_path / "j.csv"), "--offline", str(fifo)])
    assert result.exit_code == 1
    assert "not a regular file" in result.output
    result = runner.invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                  str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
                                  "--out-dir", str(tmp_path / "other"), "--consent", str(fifo)])
    assert result.exit_code == 2
    assert "not a regular file" in result.output
    form = tmp_path / "form.html"
    os.mkfifo(form)
    result = runner.invoke(main, ["study", "offline", str(study.folder), "--out", str(form)])
    assert result.exit_code == 0, result.output
    assert form.is_file()  # the FIFO was replaced, never opened


def test_a_manifest_edited_after_creation_is_refused_but_its_words_may_change(tmp_path):
    """The structure answers are filed against is signed: an output moved to another
    model, an item removed, a question showing something else are refused by name; the
    words participants read may be edited, but must stay text."""
    study = create_study(tmp_path / "study", {"jpeg": SAMPLES / "jpeg",
                                              "stylized": SAMPLES / "stylized"},
                         reference=SAMPLES / "reference")
    path = study.folder / "study.json"
    signed = json.loads(path.read_text(encoding="utf-8"))
    assert len(signed["structure_sha256"]) == 64
    item = signed["items"][0]
    swapped = {**item, "outputs": {"jpeg": item["outputs"]["stylized"],
                                   "stylized": item["outputs"]["jpeg"]}}
    question = {**signed["questions"][0], "shows": None}
    for edit in ({"items": [swapped, *signed["items"][1:]]}, {"items": signed["items"][1:]},
                 {"questions": [question]}, {"images": [1]}):
        path.write_text(json.dumps({**signed, **edit}), encoding="utf-8")
        with pytest.raises(LikenessError, match="structure .* changed after it was created"):
            open_study(study.folder)
    for edit in ({"title": None}, {"consent": ["a"]}, {"questions": [{"id": "closer"}]}):
        path.write_text(json.dumps({**signed, **edit}), encoding="utf-8")
        with pytest.raises(LikenessError, match="must be text"):
            open_study(study.folder)
    reworded = {**signed, "title": "Which looks more like the photo?",
                "questions": [{**signed["questions"][0], "text": "Which is closer?"}]}
    path.write_text(json.dumps(reworded), encoding="utf-8")
    assert open_study(study.folder).question_text("closer") == "Which is closer?"
    with pytest.raises(LikenessError, match=r"^this study asks no question 'sharper': closer"):
        open_study(study.folder).question_text("sharper")  # was a bare StopIteration


@pytest.mark.parametrize(("arguments", "message"), [
    ({"repeats": "2"}, "repeats must be a whole number, got '2'"),
    ({"per_participant": 1.5}, "per_participant must be a whole number, got 1.5"),
    ({"attention_checks": -1}, "attention_checks must be at least 0, got -1"),
    ({"max_items": 0}, "max_items must be at least 1, got 0"),
    ({"seed": -1}, "seed must be a whole number from 0 to 4294967295"),
    ({"ranking": "yes"}, "ranking must be True or False, got 'yes'"),
    ({"overwrite": "yes"}, "overwrite must be True or False, got 'yes'"),
    ({"questions": [5]}, "questions must be a question or a list of them"),
    ({"questions": ["closer", "closer"]}, "two questions share an id"),
    ({"title": None}, "title must be text, got None"),
    ({"instructions": 5}, "instructions must be text or None, got 5")])
def test_study_arguments_are_checked_before_any_image_is_written(tmp_path, arguments,
                                                                  message):
    """They failed with int()'s or numpy's errors, after the images were written, or were
    taken ("yes" as true; a title that crashed the page when served)."""
    folder = tmp_path / "study"
    with pytest.raises(LikenessError, match=re.escape(message)):
        create_study(folder, {"jpeg": SAMPLES / "jpeg", "stylized": SAMPLES / "stylized"},
                     reference=SAMPLES / "reference", **arguments)
    assert not folder.exists()


def test_one_question_may_be_a_string_and_numpy_numbers_are_python_numbers(tmp_path):
    study = create_study(tmp_path / "study", {"jpeg": SAMPLES / "jpeg",
                                              "stylized": SAMPLES / "stylized"},
                         reference=SAMPLES / "reference", questions="quality",
                         seed=np.int64(3), repeats=np.int64(1), ranking=np.bool_(False))
    again = open_study(study.folder)
    assert [q["id"] for q in again.manifest["questions"]] == ["quality"]
    assert (again.design.seed, again.design.repeats) == (3, 1)


@pytest.mark.parametrize(("where", "failure", "raised"), [
    ("replace_file", OSError(28, "No space left on device"),
     "(No space left on device); free some space — no study was written"),
    ("degraded_copy", KeyboardInterrupt(), None)])
def test_a_study_not_written_whole_leaves_no_folder(tmp_path, monkeypatch, where, failure,
                                                    raised):
    """A full disk at the manifest, or Ctrl-C among the images, left a folder of images
    without a manifest, which `study create` then refused even with --overwrite ("not
    empty"); the manifest was written in place, so a full disk could cut it short."""
    import likeness.study.folder as folder_module

    def fails(*args, **kwargs):
        raise failure

    monkeypatch.setattr(folder_module, where, fails)
    out = tmp_path / "study"
    with pytest.raises(LikenessError if raised else KeyboardInterrupt,
                       match=raised and re.escape(raised)):
        create_study(out, {"jpeg": SAMPLES / "jpeg", "stylized": SAMPLES / "stylized"},
                     reference=SAMPLES / "reference")
    assert not out.exists()
    monkeypatch.undo()
    assert create_study(out, {"jpeg": SAMPLES / "jpeg", "stylized": SAMPLES / "stylized"},
                        reference=SAMPLES / "reference").design.items
