"""Reports a person reads, for a fit, a proposal and the scaling laws.

- :mod:`~raymix.report.writer`: :func:`write_report`, both formats below from one
  computation;
- :mod:`~raymix.report.contents`: what a report shows, computed once (sensitivity,
  interactions, scaling-law curves);
- :mod:`~raymix.report.markdown`: ``report.md`` with PNG figures;
- :mod:`~raymix.report.html`: ``index.html``, one self-contained page with Plotly
  figures (training curves and the mixtures covered among them) and a sortable table of
  the runs per scale, rendered from the Jinja2 templates in ``templates/``;
- :mod:`~raymix.report.palette`: one colour per domain, distinct for any number of
  domains, the same in every figure of both formats;
- :mod:`~raymix.report.figures`: the PNG figures of a fit and a proposal;
- :mod:`~raymix.report.scaling_plots`: the PNG figures of the nested scaling laws and of
  a check at a larger scale.
"""

from raymix.report.html import HTML_REPORT
from raymix.report.scaling_plots import plot_predicted_vs_actual, plot_size_laws, plot_step_laws
from raymix.report.writer import write_report

__all__ = ["HTML_REPORT", "plot_predicted_vs_actual", "plot_size_laws", "plot_step_laws",
           "write_report"]
