"""Constructor parameters in the scikit-learn manner, shared by every estimator.

``get_params`` reads the ``__init__`` signature; ``__repr__`` prints the parameters, so
a configured estimator has a stable text form (it goes into run manifests and their
config hashes — an ``object at 0x...`` repr would make every run's hash different).
"""

from __future__ import annotations

import inspect


class ParamsMixin:
    """``get_params``, ``set_params`` and a parameter ``__repr__`` for estimators."""

    def get_params(self, deep: bool = False) -> dict:
        """Constructor parameters (scikit-learn convention)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters
                if k not in ("self", "args", "kwargs") and hasattr(self, k)}

    def set_params(self, **params):
        for k, v in params.items():
            setattr(self, k, v)
        return self

    def __repr__(self) -> str:
        ps = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items() if v is not None)
        return f"{type(self).__name__}({ps})"
