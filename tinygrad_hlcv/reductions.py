"""Reductions over axes: sum, mean, prod, max/min with indices, var/std, norm, logsumexp, softmax, cumsum."""

__all__: list[str] = []
