"""Reports a person reads: Markdown with figures, for a fit, a proposal and the scaling laws.

- :mod:`~raymix.report.markdown`: :func:`write_report`, ``report.md`` and its figures;
- :mod:`~raymix.report.figures`: the figures of a fit and a proposal;
- :mod:`~raymix.report.scaling_plots`: the figures of the nested scaling laws and of a
  check at a larger scale.
"""

from raymix.report.markdown import write_report
from raymix.report.scaling_plots import plot_predicted_vs_actual, plot_size_laws, plot_step_laws

__all__ = ["plot_predicted_vs_actual", "plot_size_laws", "plot_step_laws", "write_report"]
