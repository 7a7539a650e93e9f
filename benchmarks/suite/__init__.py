"""The o1agent dev suite: reasoning-gym tasks at fixed seeds × methods × token budgets.

``tasks.toml`` is the spec (tasks, seeds, budgets, methods); ``run.py`` runs it through
``o1agent.evaluation.run_eval`` (one resumable output folder per task and seed) and
``report.py`` turns the rows into per-task tables and accuracy-versus-tokens plots with the
Pareto front, the generated ``benchmarks/results/suite/README.md`` and the issue's target lines.
What this is not: an evaluation engine of its own — every row comes from ``o1agent eval``'s
runner, graded by the task's own scorer after the solve.
"""
