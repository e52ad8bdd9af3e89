"""Writing a run's results: tables (CSV, Markdown, LaTeX), BibTeX, the methods paragraph."""
