"""Scale-out: one executor for embarrassingly parallel work, and sweeps of strategy variants.

Public API
----------
make_executor(backend="serial"|"processes"|"ray", workers=None, address=None) -> Executor
    Run ``fn(shared, params)`` for many parameter sets; shared data sent to each worker
    once, failures reported with their parameters, checkpoints to resume, the same
    numbers on every backend (:mod:`computefolio.scale.executor`).
Checkpoint(folder)
    Finished tasks on disk; a re-run skips them (:mod:`computefolio.scale.checkpoint`).
task_seeds(base_seed, n)
    Independent per-task seeds for Monte Carlo work.
load_grid(path), run_sweep(strategy, grid, executor=..., checkpoint=...) -> SweepResult
    Every variant of a strategy that a grid names, each a full policy backtest, with the
    deflated Sharpe ratio and PBO (:mod:`computefolio.scale.sweep`).
"""

from .checkpoint import Checkpoint
from .executor import (BACKENDS, Executor, ProcessExecutor, RayExecutor, SerialExecutor, TaskResult, make_executor,
                       task_key, task_seeds, warm_numba)
from .sweep import Grid, SweepResult, Variant, expand_grid, load_grid, run_sweep, run_variant

__all__ = ["BACKENDS", "Checkpoint", "Executor", "Grid", "ProcessExecutor", "RayExecutor", "SerialExecutor",
           "SweepResult", "TaskResult", "Variant", "expand_grid", "load_grid", "make_executor", "run_sweep",
           "run_variant", "task_key", "task_seeds", "warm_numba"]
