"""Batched drivers of the DiffPC rules: the network step (:mod:`.step`) and its fast forms."""
