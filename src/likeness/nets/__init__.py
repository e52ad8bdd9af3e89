"""Backbones in plain torch, with state-dict keys equal to the published checkpoints'."""
