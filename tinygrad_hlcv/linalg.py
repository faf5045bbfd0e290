"""Matrix products: matmul (1-D, 2-D and batched with broadcasting), mm, bmm, dot; GEMMs go to BLAS."""

__all__: list[str] = []
