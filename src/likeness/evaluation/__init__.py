"""Evaluation: plans (items and sets), the metric registry, the engines that run any plan
(local and Ray), the networks they share, and the content-hash cache.  See
docs/architecture.md."""
