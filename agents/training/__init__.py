"""The run layer: orchestration, callbacks (TensorBoard, checkpoints, signals), evaluation, figures, reports.

Algorithms live in :mod:`agents`; this package runs them. It imports nothing at package
import time, so :mod:`agents.base` can use :mod:`agents.training.callbacks` without a cycle.
"""
