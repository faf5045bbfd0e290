"""Element-wise ops beyond arithmetic: maths functions, activations, comparisons, logic, where and clamp."""

__all__: list[str] = []
