"""Replicate weights: binding a replicate design's weights and building them from a design."""
