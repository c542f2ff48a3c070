"""``unlearn tune``: a multi-objective hyperparameter search over a method's settings, on Optuna.

A trial is ``unlearn forget`` with sampled settings and ``unlearn eval`` of the result on the evaluation
data; its values are named flat metrics (a forget score, a utility score). The modules, one job each:
``settings`` (the command's settings), ``objectives`` (metric names, directions, reading a summary),
``space`` (the search space and its defaults), ``study`` (storage, heartbeats, sampler), ``pruning`` (when
a trial is hopeless), ``trial`` (one trial), ``front`` and ``plot`` (the Pareto front, the chosen trial,
``best.yaml``), ``run`` (a worker from start to export).

Only ``settings``, ``objectives``, ``space`` and ``pruning`` are light; the others import Optuna.
"""
