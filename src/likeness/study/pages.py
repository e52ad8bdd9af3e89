"""What participants and the researcher see: the participant page (served, or one
self-contained offline file) and the admin page.

One template serves both participant pages (``data/study_page.html.j2``): the served page
asks the server for each trial and sends each answer as it is given; the offline form
carries its images (as data URIs) and the trials of ``slots`` design slots, keeps the
answers in the browser (a reload resumes) and lets the participant download them as a file
for ``likeness study export --offline``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
from typing import Any

import jinja2

from likeness._version import __version__
from likeness.documents import file_bytes
from likeness.study.design import Trial, degraded_name
from likeness.study.export import OFFLINE_FORMAT
from likeness.study.folder import Study
from likeness.study.handouts import OFFLINE, record_handout
from likeness.wording import counted

__all__ = ["admin_page", "completion_code", "offline_form", "participant_page", "trial_view"]

_ENVIRONMENT = jinja2.Environment(loader=jinja2.PackageLoader("likeness", "data"),
                                  autoescape=True, undefined=jinja2.StrictUndefined)


def completion_code(secret: str, token: str) -> str:
    """The code a participant shows at the end (for a crowdsourcing platform): derived from
    their token and the study's secret, so it cannot be guessed or reused."""
    digest = hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()
    return digest[:10].upper()


def trial_view(study: Study, trial: Trial, total: int) -> dict[str, Any]:
    """What the page shows for ``trial``: the question, the images above the outputs (by
    image name), and the outputs left to right (two, or a ranking's all)."""
    item = study.items_by_id[trial.item]
    question = next(q for q in study.manifest["questions"] if q["id"] == trial.question)
    context = []
    if question["shows"] is not None:
        role = study.manifest.get("role", "reference")
        context.append({"label": role.capitalize(), "image": item["reference"]})
        if item.get("style"):
            context.append({"label": "Style", "image": item["style"]})
    return {"trial": trial.number, "total": total, "question": trial.question,
            "text": question["text"], "context": context,
            "ranking": trial.is_ranking,
            "options": [_image(study, item, trial.item, model) for model in trial.shown]}


def _image(study: Study, item: dict[str, Any], item_id: str, model: str) -> str:
    if model in item["outputs"]:
        return str(item["outputs"][model])
    return next(d["image"] for d in study.manifest["degraded"]
                if d["item"] == item_id and degraded_name(d["model"]) == model)


def _json(value: Any) -> str:
    """JSON that may stand inside a <script> element."""
    return (json.dumps(value, ensure_ascii=False, separators=(",", ":"))
            .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


def _paragraphs(text: str) -> list[str]:
    return [part.strip() for part in text.split("\n\n") if part.strip()]


def _render(study: Study, data: dict[str, Any], nonce: str) -> str:
    manifest = study.manifest
    return _ENVIRONMENT.get_template("study_page.html.j2").render(
        title=manifest["title"], consent=_paragraphs(manifest["consent"]),
        instructions=_paragraphs(manifest["instructions"]), data=_json(data), nonce=nonce,
        version=__version__)


def participant_page(study: Study, nonce: str) -> str:
    """The served page (its script runs under ``nonce``)."""
    return _render(study, {"mode": "server", "study_id": study.study_id}, nonce)


def offline_form(study: Study, slots: int) -> str:
    """One self-contained HTML file: the study for ``slots`` design slots (a participant
    gets slot ``#slot=K`` of the address, else one at random).  The study is recorded as
    handed out (``handouts``): the answers files name it, so it is never replaced."""
    record_handout(study.folder, OFFLINE)
    images = {}
    for name, path in study.images.items():
        images[name] = "data:image/png;base64," + base64.b64encode(file_bytes(path)).decode()
    designs = []
    for slot in range(slots):
        trials = study.design.trials(slot)
        designs.append([trial_view(study, trial, len(trials)) for trial in trials])
    return _render(study, {"mode": "offline", "study_id": study.study_id,
                           "format": OFFLINE_FORMAT, "images": images, "designs": designs},
                   nonce="")


def admin_page(study: Study, participants: list[tuple[int, str, str, int, str]],
               answers: int, exclusions: list[tuple[str, str]], export_url: str) -> str:
    """Progress (participants, answers), exclusions so far and the export link;
    ``participants``: (number, source, started, answers, completion code)."""
    total = study.design.trials_per_participant
    finished = sum(1 for p in participants if p[3] >= total)
    rows = "".join(
        f"<tr><td>p{number}</td><td>{html.escape(source)}</td><td>{html.escape(started)}"
        f"</td><td>{count} / {total}</td><td><code>{code if count >= total else ''}</code>"
        "</td></tr>" for number, source, started, count, code in participants)
    excluded = "".join(f"<li>{html.escape(who)}: {html.escape(why)}</li>"
                       for who, why in exclusions) or "<li>none so far</li>"
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Study admin: "
        f"{html.escape(study.manifest['title'])}</title><style>body{{font-family:sans-serif;"
        "margin:2em}td,th{padding:.2em .8em;text-align:left}</style></head><body>"
        f"<h1>{html.escape(study.manifest['title'])}</h1>"
        f"<p id='progress'>{counted(len(participants), 'participant')}, {finished} finished; "
        f"{counted(answers, 'answer')}; {counted(total, 'trial')} per participant.</p>"
        f"<p><a id='export' href='{html.escape(export_url)}'>Download the judgments (CSV for "
        "<code>likeness study analyze</code>)</a></p><h2>Exclusions</h2>"
        f"<ul id='exclusions'>{excluded}</ul><h2>Participants</h2><table><tr><th>id</th>"
        "<th>source</th><th>started (UTC)</th><th>answers</th><th>completion code</th></tr>"
        f"{rows}</table></body></html>")
