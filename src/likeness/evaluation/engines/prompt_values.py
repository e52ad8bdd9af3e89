"""The prompts' side of ``NetworkStage``: each item's prompts' embeddings (CLIP's text
tower), each distinct prompt encoded once, whatever number of items, models and runs of the
computer share it; one prompt's failure (too long under ``cosine``) is its own items'.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from likeness.errors import LikenessError, raise_interruption
from likeness.evaluation.catalog.feature_metrics import FeatureUse, PromptUse
from likeness.evaluation.catalog.registry import METRICS
from likeness.evaluation.engines.built_networks import Networks
from likeness.evaluation.items.plan import Item

__all__ = ["PromptStage"]


class PromptStage:
    """Prompts' embeddings, remembered across calls (prompts recur across groups).

    Args:
        uses: each network metric's use of its network (``FeatureUse.prompts``: which
            prompts it reads).
        networks: where the text networks are built and kept.
        batch_size: prompts per pass.
    """

    def __init__(self, uses: Mapping[str, FeatureUse], networks: Networks,
                 batch_size: int) -> None:
        self.uses, self.networks, self.batch_size = uses, networks, batch_size
        self._memo: dict[tuple[str, str, str, str], Any] = {}

    def sides(self, metrics: list[str], pending: Sequence[Any]
              ) -> dict[tuple[int, str], tuple[Any, ...] | Exception]:
        """Each item's prompts' embeddings per metric that reads them (or why it has
        none), each distinct prompt encoded once."""
        wanted: dict[tuple[int, str], list[tuple[str, str, str, str]] | Exception] = {}
        for number, entry in enumerate(pending):
            for metric in metrics:
                reads = self.uses[metric].prompts
                if reads is not None:
                    wanted[(number, metric)] = self._keys(metric, reads, entry.item)
        missing = list(dict.fromkeys(key for keys in wanted.values()
                                     if not isinstance(keys, Exception) for key in keys
                                     if key not in self._memo))
        self._encode(missing)
        sides: dict[tuple[int, str], tuple[Any, ...] | Exception] = {}
        for place, keys in wanted.items():
            if isinstance(keys, Exception):
                sides[place] = keys
                continue
            embeddings = tuple(self._memo[key] for key in keys)
            failed = next((e for e in embeddings if isinstance(e, Exception)), None)
            sides[place] = failed if failed is not None else embeddings
        return sides

    def _keys(self, metric: str, reads: PromptUse, item: Item | None
              ) -> list[tuple[str, str, str, str]] | Exception:
        """(text network, prompt as encoded, too_long, cleaning) of each prompt ``metric``
        reads of ``item``, or why one is missing."""
        label = METRICS[metric].plain_label
        if item is None:
            return LikenessError(f"{label} reads each image's prompt: give prompts in a "
                                 "folder run (a prompt column or sidecar text files), or use "
                                 "likeness.clip_score on tensors")
        keys = []
        for role in reads.roles:
            prompt = item.prompt(role)
            if prompt is None or prompt.text is None:
                why = prompt.error if prompt is not None else None
                return LikenessError(why or f"{item.test_name}: no {role.replace('_', ' ')}")
            keys.append((reads.network, reads.prefix + prompt.text, reads.too_long,
                         reads.cleaning))
        return keys

    def _encode(self, keys: list[tuple[str, str, str, str]]) -> None:
        """Encode ``keys``' prompts into the memo, a batch per text network and handling;
        a batch that fails is encoded a prompt at a time, so one prompt's failure (too
        long under ``cosine``) is its own."""
        groups: dict[tuple[str, str, str], list[str]] = {}
        for network, text, too_long, cleaning in keys:
            groups.setdefault((network, too_long, cleaning), []).append(text)
        for (network, too_long, cleaning), texts in groups.items():
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start:start + self.batch_size]
                for text, embedding in zip(batch, self._embed(network, batch, too_long,
                                                              cleaning), strict=True):
                    self._memo[(network, text, too_long, cleaning)] = embedding

    def _embed(self, network: str, texts: list[str], too_long: str, cleaning: str
               ) -> list[Any]:
        try:
            embeddings = self.networks.encode_texts(network, texts, too_long, cleaning)
            return [embeddings[i:i + 1] for i in range(len(texts))]
        except Exception as error:  # noqa: BLE001 - the prompts' items fail, not the run
            raise_interruption(error)
            if len(texts) == 1:
                return [error]
        return [self._embed(network, [text], too_long, cleaning)[0] for text in texts]
