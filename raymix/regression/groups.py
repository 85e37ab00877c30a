"""Group totals as extra features, for regressors that cannot form a sum of weights.

When the domains form groups (``data.domains`` nested, :attr:`SweepConfig.domain_groups`),
a group's total weight is often what the loss answers to: how much code, not how it
splits into docstrings and readmes. Which regressors gain from seeing it:

- ``lightgbm`` and ``lightgbm_regmix`` split on one feature at a time, so a sum of
  several weights is out of their reach: a tree needs many splits to approximate it.
  They get the group totals appended to the leaf weights.
- ``gp`` measures distances between the square roots of the weights with a length scale
  per feature; ``sqrt(w_a + w_b)`` is not a function of ``sqrt(w_a)`` and ``sqrt(w_b)``
  the kernel can express, so the totals add a coarser, group-level distance it can
  weigh with their own length scales. It gets them too.
- ``ridge``, ``loglinear`` and the two mixing laws are functions of ``b . w`` (inside an
  ``exp`` for the last three): a group total is itself such a sum, so appending it adds
  nothing they cannot already express, only a column collinear with the leaves that
  moves their penalties. They see the leaves alone.

:class:`WithGroupTotals` does the appending inside the fitted model, so the model still
takes leaf weights everywhere (prediction, the search, the bootstrap), and its gradient
(when the wrapped model has one) is the chain rule back onto the leaves.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.metaestimators import available_if

from raymix.errors import UserError

# the regressors that get group totals as features (see the module docstring for why)
GROUP_FEATURE_REGRESSORS = frozenset({"lightgbm", "lightgbm_regmix", "gp"})

Groups = tuple[tuple[int, ...], ...]  # each group's leaf columns, in the groups' order


def has_std(model) -> bool:
    """Whether ``model.predict`` takes ``return_std`` (scikit-learn's convention)."""
    return "return_std" in inspect.signature(model.predict).parameters


def group_columns(domains: Sequence[str], groups: Mapping[str, Sequence[str]] | None) -> Groups:
    """Each group's leaf columns in ``domains`` (``()`` for no groups), for the groups whose
    total is not already a feature: a group of one domain is that domain, and a group with
    the same domains as one before it (``web`` holding only ``web/science``) is that group.

    Parameters
    ----------
    domains : sequence of str
        The columns of the mixtures, in order.
    groups : dict of str to list of str, optional
        Group path -> its leaf domains (:func:`raymix.config.schema.domain_groups`).

    Raises
    ------
    UserError
        When a group names a domain the mixtures have no column for.
    """
    if not groups:
        return ()
    index = {d: i for i, d in enumerate(domains)}
    columns = []
    for group, leaves in groups.items():
        missing = [leaf for leaf in leaves if leaf not in index]
        if missing:
            raise UserError(f"group {group!r} has domain {missing[0]!r}, which the runs have "
                            "no column for; give the runs of this config", field="groups")
        these = tuple(index[leaf] for leaf in leaves)
        if len(these) > 1 and these not in columns:
            columns.append(these)
    return tuple(columns)


def membership(groups: Groups, n_domains: int) -> np.ndarray:
    """The ``(n_domains, n_groups)`` 0/1 matrix ``M``: ``X @ M`` is each row's group totals."""
    M = np.zeros((n_domains, len(groups)))
    for j, columns in enumerate(groups):
        M[list(columns), j] = 1.0
    return M


class WithGroupTotals(RegressorMixin, BaseEstimator):
    """A regressor fitted on the leaf weights followed by each group's total weight.

    Parameters
    ----------
    estimator : regressor
        Unfitted; it is cloned and fitted on ``[X, X @ M]``.
    groups : tuple of tuple of int
        Each group's leaf columns of ``X`` (:func:`group_columns`).

    Attributes
    ----------
    estimator_ : regressor
        The fitted clone.
    membership_ : ndarray of shape (k, n_groups)
        ``X @ membership_`` is the group totals.
    """

    def __init__(self, estimator=None, groups: Groups = ()):
        self.estimator = estimator
        self.groups = groups

    def features(self, X) -> np.ndarray:
        """``X`` (leaf weights, shape (n, k)) with the group totals appended: (n, k + groups)."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        return np.hstack([X, X @ self.membership_])

    def fit(self, X, y):
        """Fit the wrapped regressor on the leaf weights and group totals of ``X``."""
        X = np.atleast_2d(np.asarray(X, dtype=float))
        self.membership_ = membership(self.groups, X.shape[1])
        self.estimator_ = clone(self.estimator).fit(self.features(X), y)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X) -> np.ndarray:
        """Predicted loss of each row of leaf weights ``X``."""
        return self.estimator_.predict(self.features(X))

    @available_if(lambda self: hasattr(self.estimator_, "gradient"))
    def gradient(self, X) -> np.ndarray:
        """d prediction / d leaf weight, shape (n, k): a group total's derivative flows to
        each of its leaves (the chain rule through ``X @ membership_``)."""
        full = self.estimator_.gradient(self.features(X))
        k = self.membership_.shape[0]
        return full[:, :k] + full[:, k:] @ self.membership_.T


class WithGroupTotalsStd(WithGroupTotals):
    """:class:`WithGroupTotals` of a regressor with a predictive standard deviation."""

    def predict(self, X, return_std: bool = False):
        """Predicted loss of each row of ``X``, and its standard deviation if asked."""
        return self.estimator_.predict(self.features(X), return_std=return_std)


def with_group_totals(estimator, groups: Groups) -> WithGroupTotals:
    """``estimator`` fitted on leaf weights and group totals; ``return_std`` kept if it has one."""
    wrapper = WithGroupTotalsStd if has_std(estimator) else WithGroupTotals
    return wrapper(estimator, groups)
