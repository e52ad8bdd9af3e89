"""Runs: ``compare``, ``evaluate_style``, ``fid`` and ``kid_folders`` build plans, run them
on an engine (``execute``) and write the results folder (``folder``)."""
