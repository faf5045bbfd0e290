"""Making tensors: tensor(), from_numpy(), zeros(), arange(), rand() and the rest, and dtype conversions."""

__all__: list[str] = []
