"""The system's Chromium for the browser tests: required where CI says so
(``LIKENESS_REQUIRE_CHROMIUM=1``), skipped elsewhere when it is not installed."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-default-apps", "--disable-sync", "--disable-extensions",
                  "--no-first-run", "--hide-scrollbars"]


def chromium_path() -> str:
    """The system's chromium; a failure where CI requires it, else the test is skipped."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("LIKENESS_REQUIRE_CHROMIUM") == "1":
        pytest.fail("chromium is required here (LIKENESS_REQUIRE_CHROMIUM=1) but not found")
    pytest.skip("chromium not installed: browser tests skipped (apt-get install chromium)")
