"""User studies: a 2AFC study created from the folders a run knows (``folder``), its design
(``design``), served to participants (``server``, ``pages``) or run offline, its answers
stored (``store``) and exported as the judgments ``likeness study analyze`` reads
(``export``); where it was handed out (``handouts``), and whether a results folder
measured the images it shows (``provenance``).  The web server needs the ``study`` extra
(Starlette and uvicorn)."""

from likeness.study.design import QUESTIONS, Design, Trial
from likeness.study.folder import Study, create_study, open_study
from likeness.study.provenance import unlike_the_results

__all__ = ["QUESTIONS", "Design", "Study", "Trial", "create_study", "open_study",
           "unlike_the_results"]
