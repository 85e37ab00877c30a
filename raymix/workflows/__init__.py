"""The workflows a user runs, on a sweep or on anyone's tables: the top of the library.

- :mod:`~raymix.workflows.inputs`: where the runs come from (a sweep directory, a CSV
  pair, a long table), at the target scale when one is asked for;
- :mod:`~raymix.workflows.fitting`: :func:`fit`, :func:`predict`;
- :mod:`~raymix.workflows.proposing`: :func:`propose`, :func:`propose_mixmin`;
- :mod:`~raymix.workflows.continual`: :func:`critical`, continual pretraining's share of
  a new domain;
- :mod:`~raymix.workflows.validation`: :func:`run_validation`, the proposal and the
  baselines trained at a larger scale.
- :mod:`~raymix.workflows.costing`: :func:`cost_preview`, what a sweep will cost
  (runs, FLOPs, memory, GPU-hours, wall time) before anything starts.

The public API (:mod:`raymix`) and the command line (:mod:`raymix.cli`) call these.
This package imports nothing itself: fitting a CSV pair does not start Ray's imports.
"""
