"""Synthetic users with known taste, the contrastive aligner, and feedback-driven user estimation.

One module per idea: ``simulation`` (the synthetic world), ``heldout`` (ranking quality on
held-out songs), ``aligner`` (the two-tower model) and ``aligner_training`` (its task for the
shared training loop, fold-in), ``estimator`` (the batched feedback estimator and its
regularisers), ``baselines`` (prior, mean of liked songs, ridge, Bayesian linear regression),
``selection`` (random vs active song choice), ``coldstart`` (the curve, bootstrap intervals,
convergence, the regulariser ablation) and ``real_listeners`` (plays -> scores, the estimator as
a recommender of the workflow).
"""
