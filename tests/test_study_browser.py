"""A study end to end in a real headless browser (the system's Chromium driven by
Playwright): ``likeness study create`` → ``serve`` → participants who reload mid-way and
double-click → ``export`` → ``analyze``; and the offline form, whose answers file is
downloaded and exported."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from browser_support import CHROMIUM_FLAGS, chromium_path
from likeness.cli import main
from likeness.study import open_study
from study_support import SAMPLES, free_port, start_serve_process

playwright_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    executable = chromium_path()
    with playwright_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable,
                                              args=[f for f in CHROMIUM_FLAGS
                                                    if f != "--headless"])
        yield launched
        launched.close()


@pytest.fixture
def study_folder(tmp_path):
    folder = tmp_path / "study"
    result = CliRunner().invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                       str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
                                       "--out-dir", str(folder), "--repeats", "1",
                                       "--attention-checks", "1"])
    assert result.exit_code == 0, result.output
    return folder


def _choose(page, study) -> str:
    """The side an attentive participant who prefers jpeg clicks."""
    degraded = {d["image"] for d in study.manifest["degraded"]}
    jpeg = {item["outputs"]["jpeg"] for item in study.manifest["items"]}
    left = page.locator("#left img").get_attribute("src").rpartition("/")[2]
    right = page.locator("#right img").get_attribute("src").rpartition("/")[2]
    if left in degraded or right in degraded:
        return "right" if left in degraded else "left"
    return "left" if left in jpeg else "right"


def _trial(page) -> int:
    page.wait_for_selector("#trial:not([hidden]) #left:not([disabled])")
    return int(page.locator("#trial").get_attribute("data-trial"))


def _participant(browser, port):
    """A new participant (a browser context of their own) past the consent page."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/")
    page.click("#start")
    return context, page


def _answers(folder):
    with sqlite3.connect(folder / "answers.sqlite") as connection:
        return connection.execute("SELECT participant, trial FROM answers").fetchall()


def test_participants_in_a_browser_reload_double_click_and_are_analysed(browser, study_folder,
                                                                          tmp_path):
    study = open_study(study_folder)
    total = study.design.trials_per_participant
    port = free_port()
    server = start_serve_process(study_folder, port)
    try:
        for participant in range(3):
            context, page = _participant(browser, port)
            while (trial := _trial(page)) < total:
                side = _choose(page, study)
                if trial == 1:  # a reload mid-way resumes at the same trial
                    page.reload()
                    assert _trial(page) == 1
                if trial == 2:  # a double click answers once
                    page.dblclick(f"#{side}")
                else:
                    page.click(f"#{side}")
                page.wait_for_selector(f"#trial[data-trial='{trial + 1}']:not([hidden]), "
                                       "#done:not([hidden])")
                if trial == 2:  # the second click did not answer trial 3 as well
                    assert _trial(page) == 3
                    assert len(_answers(study_folder)) == participant * total + 3
                if not page.locator("#done").is_hidden():
                    break
            assert "Your completion code:" in page.locator("#code").inner_text()
            # from inside the page: the last answer replayed, another answer to it, a
            # malformed body and a forged token — none is recorded
            statuses = page.evaluate("""async (total) => {
                const token = localStorage.getItem(Object.keys(localStorage)[0]);
                const send = (body, type) => fetch("api/answers", {method: "POST",
                    headers: {"Content-Type": type || "application/json"}, body});
                const replies = [
                    await send(JSON.stringify({token, trial: total - 1, choice: "left"})),
                    await send(JSON.stringify({token, trial: total - 1, choice: "right"})),
                    await send("{not json"),
                    await send(JSON.stringify({token: "x".repeat(32), trial: 0,
                                               choice: "left"}))];
                return replies.map((reply) => reply.status);
            }""", total)
            assert statuses[0] in (200, 409)
            assert statuses[1] in (200, 409)
            assert statuses[2:] == [400, 404]
            answers = _answers(study_folder)
            assert len(answers) == (participant + 1) * total == len(set(answers))
            context.close()
    finally:
        server.kill()
        server.wait(timeout=30)
    runner = CliRunner()
    judgments = tmp_path / "judgments.csv"
    result = runner.invoke(main, ["study", "export", str(study_folder), "--out",
                                  str(judgments)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["study", "analyze", "--judgments", str(judgments),
                                  "--out-dir", str(tmp_path / "analysis"),
                                  "--bootstrap", "100"])
    assert result.exit_code == 0, result.output
    assert "excluded" not in result.output
    scores = (tmp_path / "analysis" / "scores.csv").read_text().splitlines()
    assert len(scores) == 3  # a header and the two models


def test_a_double_click_or_a_held_key_answers_one_trial_not_the_next(browser, study_folder):
    """The second click of a double click, or a key held down, that arrives after the next
    trial is shown (a fast server) must not answer it unseen."""
    port = free_port()
    server = start_serve_process(study_folder, port)
    try:
        context, page = _participant(browser, port)
        assert _trial(page) == 0
        box = page.locator("#left").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.click(x, y)
        assert _trial(page) == 1  # the next trial is shown, its buttons enabled
        page.mouse.down(click_count=2)  # the double click's second press and release
        page.mouse.up(click_count=2)
        page.wait_for_timeout(300)
        assert _trial(page) == 1
        assert len(_answers(study_folder)) == 1
        page.keyboard.down("ArrowLeft")  # answers trial 1
        page.wait_for_selector("#trial[data-trial='2']:not([hidden]) #left:not([disabled])")
        page.keyboard.down("ArrowLeft")  # the key's auto-repeat
        page.keyboard.up("ArrowLeft")
        page.wait_for_timeout(300)
        assert _trial(page) == 2
        assert len(_answers(study_folder)) == 2
        context.close()
    finally:
        server.kill()
        server.wait(timeout=30)


def test_the_offline_form_resumes_and_downloads_answers_that_export_reads(browser,
                                                                           study_folder,
                                                                           tmp_path):
    study = open_study(study_folder)
    form = tmp_path / "form.html"
    result = CliRunner().invoke(main, ["study", "offline", str(study_folder), "--out",
                                       str(form), "--slots", "4"])
    assert result.exit_code == 0, result.output
    files = []
    for slot in (1, 2):
        context = browser.new_context(accept_downloads=True)
        page = context.new_page()
        page.goto(form.as_uri() + f"#slot={slot}")
        page.click("#start")
        total = study.design.trials_per_participant
        for trial in range(total):
            assert _trial(page) == trial
            if trial == 2:
                page.reload()
                assert _trial(page) == 2
            degraded = {d["image"] for d in study.manifest["degraded"]}
            left = page.evaluate("Object.entries(JSON.parse(document.getElementById("
                                 "'study-data').textContent).images).find(([, uri]) => uri "
                                 "=== document.querySelector('#left img').src)[0]")
            page.click("#right" if left in degraded else "#left")
        page.wait_for_selector("#done:not([hidden])")
        with page.expect_download() as download:
            page.click("#download")
        path = tmp_path / f"answers-{slot}.json"
        download.value.save_as(path)
        files.append(path)
        context.close()
    runner = CliRunner()
    judgments = tmp_path / "judgments.csv"
    result = runner.invoke(main, ["study", "export", str(study_folder), "--out",
                                  str(judgments), "--offline", str(files[0]), "--offline",
                                  str(files[1])])
    assert result.exit_code == 0, result.output
    lines = judgments.read_text().splitlines()
    assert len(lines) == 1 + 2 * study.design.trials_per_participant
    assert all(line.endswith(",offline") for line in lines[1:])
    trials = study.design.trials(1)
    first = [line.split(",") for line in lines[1:] if line.split(",")[0].startswith(
        "offline-")][:len(trials)]
    assert [row[2] for row in first] == [t.left for t in trials]


def test_a_ranking_study_is_ranked_by_clicks_in_a_browser(browser, tmp_path):
    third = tmp_path / "third"
    shutil.copytree(SAMPLES / "jpeg", third)
    folder = tmp_path / "ranking"
    result = CliRunner().invoke(main, ["study", "create", str(SAMPLES / "reference"),
                                       str(SAMPLES / "jpeg"), str(SAMPLES / "stylized"),
                                       str(third), "--out-dir", str(folder), "--ranking",
                                       "--repeats", "1", "--attention-checks", "1"])
    assert result.exit_code == 0, result.output
    study = open_study(folder)
    total = study.design.trials_per_participant
    port = free_port()
    server = start_serve_process(folder, port)
    try:
        for _ in range(2):
            context, page = _participant(browser, port)
            for trial in range(total):
                page.wait_for_selector(f"#trial[data-trial='{trial}']:not([hidden]) "
                                       ".choice:not([disabled])")
                if page.locator("#option-0").count() == 0:  # an attention check: a pair
                    page.click(f"#{_choose(page, study)}")
                    continue
                page.click("#option-2")  # changed their mind: start again
                assert page.locator("#option-2 .rank").inner_text() == "1"
                page.click("#undo")
                assert page.locator("#option-2 .rank").inner_text() == ""
                page.click("#option-1")
                page.click("#option-0")  # the last one is ranked by itself
            page.wait_for_selector("#done:not([hidden])")
            context.close()
    finally:
        server.kill()
        server.wait(timeout=30)
    with sqlite3.connect(folder / "answers.sqlite") as connection:
        choices = [row[0] for row in connection.execute("SELECT choice FROM answers")]
    assert choices.count("1,0,2") == 2 * (total - 1)
    judgments = tmp_path / "judgments.csv"
    runner = CliRunner()
    assert runner.invoke(main, ["study", "export", str(folder), "--out",
                                str(judgments)]).exit_code == 0
    result = runner.invoke(main, ["study", "analyze", "--judgments", str(judgments),
                                  "--out-dir", str(tmp_path / "analysis"), "--bootstrap", "50"])
    assert result.exit_code == 0, result.output
