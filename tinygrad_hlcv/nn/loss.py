"""The training objective: softmax cross-entropy, and the L2 penalty on weights."""
from . import functional as F
from .layers import linear_layers
from .module import Module


class SoftmaxCrossEntropy(Module):
    """Mean over the batch of -log softmax(logits)[label], fused and numerically stable
    (log-softmax by the max-shift; never the log of an underflowed probability).

    `loss_fn(logits, labels)` takes N×C float logits and N integer labels in [0, C).
    """

    def forward(self, logits, labels):
        return F.softmax_cross_entropy(logits, labels)


def l2_penalty(model, lam):
    """λ Σ_l ‖W_l‖²_F over the weights of every Linear layer of `model` (not biases),
    as a Tensor: add it to the data loss to get the derivation's J~."""
    weights = [layer.weight for layer in linear_layers(model)]
    return F.l2_penalty(weights, lam)
