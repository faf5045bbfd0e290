"""The framework's own exception types.

Every mistake a user can make ends in one of these, with a message that says
what was wrong and what was expected. Each also derives from the built-in
exception a Python user would reach for (ValueError, TypeError, RuntimeError),
so `except ValueError` keeps working.
"""


class TinygradError(Exception):
    """Base class of every error raised on purpose by tinygrad_hlcv."""


class ShapeError(TinygradError, ValueError):
    """Operands whose shapes do not fit together."""


class LabelError(TinygradError, ValueError):
    """Class labels of the wrong type, length or range."""


class DTypeError(TinygradError, TypeError):
    """An array of a dtype the operation cannot take."""


class GraphError(TinygradError, RuntimeError):
    """A misuse of the computation graph (backward twice, on a non-scalar, ...)."""


class ConfigError(TinygradError, ValueError):
    """A hyperparameter or option outside its valid range."""


class AnomalyError(TinygradError, FloatingPointError):
    """An op produced NaN or Inf while anomaly detection was on."""


class IndexingError(ShapeError, IndexError):
    """An index that does not fit a tensor's shape. Also an IndexError, so that Python's
    iteration protocol (`for row in t`, `list(t)`) stops at the end."""
