"""Shape and indexing ops: view/reshape, permute/transpose, expand, cat/stack, split, gather, slicing."""

__all__: list[str] = []
