"""scikit-learn integration: :class:`ASHASearchCV`, asynchronous successive halving as a
scikit-learn search estimator (``pip install "asha_nb[sklearn]"``).

``import asha_nb`` does not import this module (nor scikit-learn).
"""

from __future__ import annotations

try:
    import sklearn  # noqa: F401  (only to give a clear error when it is missing)
except ImportError as exc:  # pragma: no cover - the extra is installed in the tests
    from ..errors import MissingExtraError

    raise MissingExtraError("sklearn", "scikit-learn") from exc

from ._search import ASHASearchCV

__all__ = ["ASHASearchCV"]
