"""Metric cards: one per built-in metric, the source of docs/metrics.md and of the methods
paragraph's sentences."""

from __future__ import annotations

import re
from pathlib import Path

from likeness.evaluation.catalog.bibtex import BIBTEX
from likeness.evaluation.catalog.registry import METRICS
from likeness.results.citations import method_sentence, render_cards

DOCS = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"


def test_every_metric_has_a_card_and_the_docs_are_generated_from_them():
    assert [name for name, spec in METRICS.items() if spec.card is None] == []
    assert DOCS.read_text() == render_cards(), (
        "docs/metrics.md is stale: regenerate it with python -c \"from "
        "likeness.results.citations import render_cards; "
        "open('docs/metrics.md', 'w').write(render_cards())\"")


def test_each_card_states_its_direction_and_cites_known_papers():
    for name, spec in METRICS.items():
        card = spec.card
        assert card is not None
        assert spec.better + " is better" in card.range, name
        sentences = [card.method, card.in_style_runs or "", *card.by_convention.values()]
        for key in re.findall(r"@([a-z0-9]+)", " ".join(sentences)):
            assert key in BIBTEX, (name, key)
        cited = [key for keys in spec.cited_when.values() for extra in keys.values()
                 for key in extra]
        assert all(key in BIBTEX for key in [*spec.citations, *cited]), name


def test_method_sentences_fill_in_the_weights_and_the_ssim_convention():
    assert method_sentence("dists", weights=" (checkpoint `v.pth`)").startswith(
        "DISTS [@ding2022dists]")
    assert "(checkpoint `v.pth`)" in method_sentence("dists", weights=" (checkpoint `v.pth`)")
    assert "ssim.m" in method_sentence("ssim", {"ssim_convention": "matlab"})
    assert "calculate_ssim" in method_sentence("ssim", {"ssim_convention": "basicsr"})
    assert "7×7 uniform window" in method_sentence("ssim")


def test_the_cards_carry_the_published_agreement_with_its_source():
    """piq 0.8.0's README benchmark table (SRCC on TID2013, KADID-10k, PIPAL), "PIQ" column."""
    from likeness.evaluation.catalog.registry import METRICS

    card = METRICS["ssim"].card
    assert dict(card.agreement) == {"TID2013": 0.72, "KADID-10k": 0.72, "PIPAL": 0.50}
    assert "piq 0.8.0" in card.agreement_source
    assert METRICS["haarpsi"].card.agreement["TID2013"] == 0.87
    assert not METRICS["cfsd"].card.agreement  # none published: left blank


def test_methods_md_says_why_the_metrics_were_chosen(tmp_path):
    """The published agreement of the run's metrics, with its source, in methods.md."""
    from click.testing import CliRunner

    from likeness.cli import main

    samples = Path(__file__).parents[1] / "samples"
    out = tmp_path / "run"
    result = CliRunner().invoke(main, ["compare", str(samples / "reference"),
                                       str(samples / "jpeg"), "--metrics", "ssim,psnr",
                                       "--out-dir", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    methods = (out / "methods.md").read_text()
    assert "published rank correlations with human scores" in methods
    assert "SSIM 0.72 / 0.72 / 0.50; PSNR 0.69 / 0.68 / 0.41" in methods
    assert "piq 0.8.0's README benchmark table" in methods


def test_a_style_run_states_the_published_agreement_too(tmp_path):
    from click.testing import CliRunner

    from likeness.cli import main

    samples = Path(__file__).parents[1] / "samples" / "style-transfer"
    out = tmp_path / "style"
    result = CliRunner().invoke(main, ["style", "--content", str(samples / "content"),
                                       "--style", str(samples / "style"), "--stylized",
                                       str(samples / "stylized"), "--metrics", "ssim",
                                       "--out-dir", str(out), "--no-cache"])
    assert result.exit_code == 0, result.output
    assert "SSIM 0.72 / 0.72 / 0.50" in (out / "methods.md").read_text()
