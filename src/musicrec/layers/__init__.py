"""Which layer knows what: probing targets, nested-CV probes, layer fusion, track search.

One file per idea:

- :mod:`~musicrec.layers.targets`: the 15 acoustic proxy targets per track and the catalogue's labels;
- :mod:`~musicrec.layers.folds`: deterministic folds grouped by artist (no artist on both sides);
- :mod:`~musicrec.layers.probe`: the vectorised nested-CV ridge probe, the logistic label probe, controls;
- :mod:`~musicrec.layers.stack`: reading a multi-layer artefact and naming its layers;
- :mod:`~musicrec.layers.derived`: one-layer and mean-of-layers embeddings derived from it;
- :mod:`~musicrec.layers.fusion`: the fusion models (global softmax weights, attention over layers);
- :mod:`~musicrec.layers.fusion_training`: triplets and the training task for the shared loop;
- :mod:`~musicrec.layers.search`: FAISS top-k neighbours and same-artist Recall@k.
"""
