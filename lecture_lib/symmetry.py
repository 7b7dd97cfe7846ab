"""Symmetries of the parametrisation: the GL action on deep linear networks, permutations
and positive rescalings of ReLU hidden units, and weight matching between two networks.

Deep linear network (lecture section 2): ``W_k -> U_k W_k U_{k-1}^{-1}`` with ``U_0 = I``,
``U_K = I`` and invertible hidden ``U_k`` leaves the product ``W_K ... W_1`` (the
canonical parameter) and hence every loss of the product unchanged.

ReLU network: for a permutation ``p`` and scales ``c > 0`` of a hidden layer,
``W_l -> diag(c) W_l[p]``, ``b_l -> c * b_l[p]``, ``W_{l+1} -> W_{l+1}[:, p] diag(1/c)``
leave the function unchanged, since ``relu(c z) = c relu(z)`` for ``c > 0``.

>>> W1, W2 = torch.eye(2), torch.ones(1, 2)
>>> U = [torch.tensor([[2.0, 1.0], [0.0, 1.0]])]
>>> torch.allclose(product(gl_act([W1, W2], U)), product([W1, W2]))
True
"""

import copy
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .models import MLP, DeepLinear, TwoLayer


def product(weights):
    """End-to-end matrix ``W_K ... W_1`` of a list ``[W_1, ..., W_K]`` or a ``DeepLinear``."""
    weights = list(weights.weights) if isinstance(weights, DeepLinear) else list(weights)
    if not weights:
        raise ValueError("product needs at least one weight matrix")
    out = weights[0]
    for k, W in enumerate(weights[1:], start=2):
        if W.shape[1] != out.shape[0]:
            raise ValueError(f"W_{k} has shape {tuple(W.shape)}; it needs {out.shape[0]} columns")
        out = W @ out
    return out


def _check_gl(weights, Us):
    if len(Us) != len(weights) - 1:
        raise ValueError(f"need one U per hidden layer: {len(weights) - 1} for {len(weights)} "
                         f"weight matrices, got {len(Us)}")
    for k, (U, W) in enumerate(zip(Us, weights), start=1):
        n = W.shape[0]
        if U.dim() != 2 or U.shape != (n, n):
            raise ValueError(f"U_{k} must be square of shape ({n}, {n}), got {tuple(U.shape)}")
        if torch.linalg.matrix_rank(U.detach().double()) < n:
            raise ValueError(f"U_{k} is singular; the GL action needs invertible matrices")


def gl_act(weights, Us):
    """``[W_1, ..., W_K] -> [U_1 W_1, U_2 W_2 U_1^{-1}, ..., W_K U_{K-1}^{-1}]``.

    ``Us = [U_1, ..., U_{K-1}]``, ``U_k: (n_k, n_k)`` invertible. Returns new tensors;
    ``W U^{-1}`` is computed by a linear solve, not an explicit inverse.
    """
    weights, Us = list(weights), list(Us)
    _check_gl(weights, Us)
    left = Us + [None]  # U_k on the left of W_k (U_K = I)
    right = [None] + Us  # U_{k-1}^{-1} on the right (U_0 = I)
    out = []
    for W, L, R in zip(weights, left, right):
        W = W if R is None else torch.linalg.solve(R.T, W.T).T  # W R^{-1}
        out.append(W if L is None else L @ W)
    return out


def gl_act_module(model, Us):
    """The GL action on a ``DeepLinear``: a new module with weights ``gl_act(model.weights, Us)``."""
    if not isinstance(model, DeepLinear):
        raise TypeError(f"gl_act_module needs a DeepLinear, got {type(model).__name__}")
    new = copy.deepcopy(model)
    with torch.no_grad():
        for p, W in zip(new.weights, gl_act([w.detach() for w in model.weights], Us)):
            p.copy_(W)
    return new


def random_gl(widths, seed=0, *, spread=0.5, dtype=torch.float64):
    """Invertible ``U_k = Q_k diag(exp(spread * g_k)) R_k`` for the hidden widths
    ``widths[1:-1]`` (``Q, R`` random orthogonal, ``g`` Gaussian): well conditioned."""
    g = torch.Generator().manual_seed(seed)
    Us = []
    for n in widths[1:-1]:
        Q = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=dtype))[0]
        R = torch.linalg.qr(torch.randn(n, n, generator=g, dtype=dtype))[0]
        Us.append(Q @ torch.diag(torch.exp(spread * torch.randn(n, generator=g, dtype=dtype))) @ R)
    return Us


def _layers(model):
    """``[(W_l, b_l or None), ...]`` (detached clones) of a TwoLayer or MLP."""
    if isinstance(model, TwoLayer):
        pairs = [(model.W1, model.b1), (model.W2, model.b2)]
    elif isinstance(model, MLP):
        pairs = [(layer.weight, layer.bias) for layer in model.layers]
    else:
        raise TypeError(f"expected a TwoLayer or MLP, got {type(model).__name__}")
    return [(W.detach().clone(), None if b is None else b.detach().clone()) for W, b in pairs]


def _rebuild(model, layers):
    new = copy.deepcopy(model)
    targets = ([(new.W1, new.b1), (new.W2, new.b2)] if isinstance(new, TwoLayer)
               else [(layer.weight, layer.bias) for layer in new.layers])
    with torch.no_grad():
        for (W, b), (W_new, b_new) in zip(targets, layers):
            W.copy_(W_new)
            if b is not None:
                b.copy_(b_new)
    return new


def _per_hidden_layer(values, n_hidden, what):
    if isinstance(values, torch.Tensor) or (len(values) > 0 and np.isscalar(values[0])):
        values = [values]
    values = [torch.as_tensor(v) for v in values]
    if len(values) != n_hidden:
        raise ValueError(f"need one {what} per hidden layer ({n_hidden}), got {len(values)}")
    return values


def permute_hidden(model, perms):
    """New TwoLayer/MLP whose hidden unit ``j`` of layer l is the old unit ``perms[l][j]``.

    ``perms``: one permutation (a sequence or LongTensor of length ``n_l``) per hidden
    layer; a single permutation is accepted for a one-hidden-layer model.
    """
    layers = _layers(model)
    perms = _per_hidden_layer(perms, len(layers) - 1, "permutation")
    for l, p in enumerate(perms):
        n = layers[l][0].shape[0]
        if p.dim() != 1 or not torch.equal(torch.sort(p.long()).values, torch.arange(n)):
            raise ValueError(f"perms[{l}] must be a permutation of range({n}), got {p.tolist()}")
        (W, b), (W_next, b_next) = layers[l], layers[l + 1]
        layers[l] = (W[p], None if b is None else b[p])
        layers[l + 1] = (W_next[:, p], b_next)
    return _rebuild(model, layers)


def rescale_hidden(model, scales):
    """New ReLU TwoLayer/MLP with hidden unit j of layer l scaled by ``c = scales[l][j] > 0``:
    incoming weights and bias times ``c``, outgoing weights times ``1/c``."""
    layers = _layers(model)
    if model.activation not in ("relu", "leaky", "identity"):
        raise ValueError(f"rescaling is a symmetry only for positively homogeneous activations "
                         f"(relu, leaky, identity), not {model.activation!r}")
    scales = _per_hidden_layer(scales, len(layers) - 1, "scale vector")
    for l, c in enumerate(scales):
        (W, b), (W_next, b_next) = layers[l], layers[l + 1]
        c = c.to(W.dtype)
        if c.shape != (W.shape[0],):
            raise ValueError(f"scales[{l}] must have shape ({W.shape[0]},), got {tuple(c.shape)}")
        if not (c > 0).all():
            raise ValueError(f"scales must be positive (relu(c z) = c relu(z) needs c > 0), got {c.tolist()}")
        layers[l] = (W * c[:, None], None if b is None else b * c)
        layers[l + 1] = (W_next / c[None, :], b_next)
    return _rebuild(model, layers)


@dataclass(frozen=True)
class MatchResult:
    """Result of :func:`weight_matching`: ``model`` is model_b permuted, ``perms`` the
    permutations applied (``permute_hidden(model_b, perms)``), ``similarity`` the final
    ``sum_l <W_l^a, W_l^{b, permuted}> + <b_l^a, b_l^{b, permuted}>``."""

    model: torch.nn.Module
    perms: tuple
    similarity: float
    n_iter: int
    converged: bool
    message: str


def _similarity_matrix(a, b, perms, l):
    """``S[i, j]``: how well unit j of model b at hidden layer l matches unit i of model a."""
    (Wa, ba), (Wb, bb) = a[l], b[l]
    p_in = perms[l - 1] if l > 0 else torch.arange(Wb.shape[1])
    S = Wa @ Wb[:, p_in].T  # incoming weights, (n_l, n_l)
    if ba is not None:
        S = S + torch.outer(ba, bb)
    p_out = perms[l + 1] if l + 1 < len(perms) else torch.arange(b[l + 1][0].shape[0])
    return S + a[l + 1][0].T @ b[l + 1][0][p_out]  # outgoing weights


def weight_matching(model_a, model_b, *, max_iter=100):
    """Permute model_b's hidden units to align its weights with model_a's (Ainsworth et al.,
    *Git Re-Basin*, 2023, weight matching): maximise ``sum_l <W_l^a, P_l W_l^b P_{l-1}^T>``
    (plus biases) by coordinate descent, one ``scipy.optimize.linear_sum_assignment`` per
    hidden layer, until a full pass over the layers changes no permutation.
    """
    a, b = _layers(model_a), _layers(model_b)
    if [W.shape for W, _ in a] != [W.shape for W, _ in b]:
        raise ValueError(f"models have different layer shapes: {[tuple(W.shape) for W, _ in a]} "
                         f"vs {[tuple(W.shape) for W, _ in b]}")
    a = [(W.double(), None if v is None else v.double()) for W, v in a]
    b = [(W.double(), None if v is None else v.double()) for W, v in b]
    perms = [torch.arange(W.shape[0]) for W, _ in a[:-1]]
    converged, n_iter = False, 0
    while not converged and n_iter < max_iter:
        n_iter, converged = n_iter + 1, True
        for l in range(len(perms)):
            S = _similarity_matrix(a, b, perms, l).numpy()
            _, cols = linear_sum_assignment(S, maximize=True)
            new = torch.as_tensor(cols, dtype=torch.long)
            if not torch.equal(new, perms[l]):
                perms[l], converged = new, False
    matched = permute_hidden(model_b, perms)
    similarity = sum(float((Wa * Wm.double()).sum()) + (0.0 if ba is None else float(ba @ bm.double()))
                     for (Wa, ba), (Wm, bm) in zip(a, _layers(matched)))
    message = (f"converged after {n_iter} passes, similarity {similarity:.4g}" if converged
               else f"stopped after max_iter={max_iter} passes without convergence")
    return MatchResult(matched, tuple(perms), similarity, n_iter, converged, message)
