"""User studies: a 2AFC study created from the folders a run knows (``folder``), its design
(``design``), served to participants (``server``, ``pages``) or run offline, its answers
stored (``store``) and exported as the judgments ``likeness study analyze`` reads
(``export``).  The web server needs the ``study`` extra (Starlette and uvicorn)."""

from likeness.study.design import QUESTIONS, Design, Trial
from likeness.study.folder import Study, create_study, open_study

__all__ = ["QUESTIONS", "Design", "Study", "Trial", "create_study", "open_study"]
