"""Engines that run a plan elsewhere than in this process (the local engine is
``likeness.engine``)."""
