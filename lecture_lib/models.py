"""The networks of the lecture, as ordinary ``nn.Module`` s.

Every model below is a plain module (``forward(x)``, ``parameters()``), so ``torch.func``
and ``torch.optim`` apply. ``DeepLinear``, ``QuadraticNet``, ``PolynomialNet``,
``TwoLayer``, ``MLP`` (hence ``SigmoidNet1441``), ``SmallCNN``, ``CNN1D`` and ``CharLSTM``
also offer a *batched-parameter* forward

    forward_batched(theta: Tensor[B, d], x: Tensor[N, n_in]) -> Tensor[B, N, n_out],

where row ``b`` of ``theta`` is a flat parameter vector laid out exactly as
``torch.nn.utils.parameters_to_vector(model.parameters())`` (each parameter ``.view(-1)``
in row-major order, concatenated in ``parameters()`` order); ``forward_stacked(params,
x)`` is the same with the parameters already stacked. The B weight sets are
stacked along a leading axis, ``W: (B, out, in)``, and each layer is one batched matmul,
``H_k = rho(H_{k-1} W_k^T + b_k)`` with ``H: (B, N, n_k)`` (``torch.baddbmm``), never a
Python loop over the B points. The module's own weights are not used by it. ``x`` may
also be ``(B, N, n_in)``, one input batch per row of ``theta`` (an ensemble in which each
member sees its own minibatch).

Example (a 2-2-1 deep linear net is the product ``W_2 W_1``)::

    >>> net = DeepLinear([2, 2, 1])
    >>> theta = torch.nn.utils.parameters_to_vector(net.parameters())[None]  # (1, 6)
    >>> torch.allclose(net.forward_batched(theta, torch.eye(2))[0], net(torch.eye(2)))
    True
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

_ACTIVATIONS = {
    "relu": torch.relu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "square": torch.square,
    "identity": lambda z: z,
}


def _check_widths(widths, min_len=2):
    try:
        ok = len(widths) >= min_len and all(int(w) == w and w >= 1 for w in widths)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        raise ValueError(f"widths must be a list of at least {min_len} positive integers, got {widths!r}")
    return [int(w) for w in widths]


def _activation(name):
    if name not in _ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; options: {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def _uniform(shape, fan_in):
    # The default of nn.Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    bound = 1.0 / math.sqrt(fan_in)
    return nn.Parameter(torch.empty(*shape).uniform_(-bound, bound))


def _check_x(x, n_in, name):
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != n_in:
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name}: x must have shape (N, {n_in}), got {shape}")


def _layer(h, W, b=None):
    """One batched affine map ``h W^T + b``: h (B, N, i) or (N, i), W (B, o, i), b (B, o) -> (B, N, o).

    A shared input ``h: (N, i)`` (the first layer) meets all B weight matrices in ONE
    matmul, ``h @ [W_1; ...; W_B]^T: (N, B*o)``, instead of B small ones: measured 25-70%
    faster for the digits MLP on the 2-core development machine (benchmarks/RESULTS.md).
    """
    B, o, i = W.shape
    if h.dim() == 2:
        Wt = W.reshape(B * o, i).T  # (i, B*o)
        out = h @ Wt if b is None else torch.addmm(b.reshape(1, B * o), h, Wt)  # (N, B*o)
        return out.view(h.shape[0], B, o).transpose(0, 1)  # (B, N, o), a strided view
    if b is None:
        return torch.bmm(h, W.transpose(1, 2))
    return torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))


def _stacked_shapes_ok(model, params):
    """Raise unless ``params`` are ``(B, *p.shape)`` tensors for ``model.parameters()``; return B."""
    shapes = [tuple(p.shape) for p in model.parameters()]
    B = params[0].shape[0] if len(params) == len(shapes) and params[0].dim() > 0 else None
    if B is None or [tuple(q.shape) for q in params] != [(B, *s) for s in shapes]:
        raise ValueError(f"{type(model).__name__}: params must be stacked tensors of shapes "
                         f"(B, *shape) for {shapes}, got {[tuple(q.shape) for q in params]}")
    return B


def _grouped_conv(h, W, b, conv, **kw):
    """B convolutions in one: ``h (N, B*c_in, ...)`` or shared ``(N, c_in, ...)``, ``W (B, c_out, c_in, k...)``.

    Shared input: one ordinary convolution with the B filter banks concatenated,
    ``(B*c_out, c_in, k...)``. Per-b input (channels grouped b-major): a grouped convolution,
    ``groups=B``, group ``b`` meeting only filter bank ``b``. Output ``(N, B*c_out, ...)``.
    """
    B, c_out, c_in = W.shape[:3]
    groups = 1 if h.shape[1] == c_in else B
    return conv(h, W.reshape(B * c_out, c_in, *W.shape[3:]), b.reshape(B * c_out), groups=groups, **kw)


def _grouped_head(h, B, W, b):
    """Linear read-out of ``h (N, B*c, ...)`` (channels b-major) with ``W (B, o, c*...)`` -> ``(B, N, o)``."""
    feats = h.reshape(h.shape[0], B, -1).transpose(0, 1)  # (B, N, c*...), each row flatten(1) of its net
    return torch.baddbmm(b[:, None, :], feats, W.transpose(1, 2))


class BatchedForward:
    """Mixin: the batched-parameter forward from a model's ``forward_stacked``.

    ``forward_batched(theta (B, d), x) = forward_stacked(split_theta(theta), x)``;
    ``forward_stacked(params, x)`` takes the parameters already stacked, a list of
    ``(B, *p.shape)`` tensors in ``parameters()`` order (as ``stack_module_state`` makes
    them), which spares autograd the slicing of one flat tensor.
    """

    def split_theta(self, theta):
        """Views ``theta: (B, d)`` as ``[(B, *p.shape) for p in self.parameters()]``."""
        shapes = [p.shape for p in self.parameters()]
        d = sum(math.prod(s) for s in shapes)
        if not isinstance(theta, torch.Tensor) or theta.dim() != 2 or theta.shape[1] != d:
            shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
            raise ValueError(f"{type(self).__name__}: theta must have shape (B, {d}), got {shape}")
        pieces, start = [], 0
        for s in shapes:
            n = math.prod(s)
            pieces.append(theta[:, start:start + n].reshape(theta.shape[0], *s))
            start += n
        return pieces

    def forward_batched(self, theta, x):
        """``theta: (B, d)``, ``x: (N, n_in)`` or ``(B, N, n_in)`` -> ``(B, N, n_out)``."""
        return self.forward_stacked(self.split_theta(theta), x)

    def _check_stacked(self, params, x):
        shapes = [tuple(p.shape) for p in self.parameters()]
        B = params[0].shape[0] if len(params) == len(shapes) and params[0].dim() > 0 else None
        if B is None or [tuple(q.shape) for q in params] != [(B, *s) for s in shapes]:
            raise ValueError(f"{type(self).__name__}: params must be stacked tensors of shapes "
                             f"(B, *shape) for {shapes}, got {[tuple(q.shape) for q in params]}")
        n_in = self.widths[0]
        if isinstance(x, torch.Tensor) and x.dim() == 3:
            if x.shape[0] != B or x.shape[2] != n_in:
                raise ValueError(f"{type(self).__name__}: per-row inputs must have shape "
                                 f"(B={B}, N, {n_in}), got {tuple(x.shape)}")
            return
        _check_x(x, n_in, type(self).__name__)


class DeepLinear(BatchedForward, nn.Module):
    """Deep linear network ``f(x) = W_K ... W_1 x`` (Kawaguchi 2016; lecture section 2).

    ``widths = [n_0, ..., n_K]``; ``self.weights[k-1] = W_k`` has shape ``(n_k, n_{k-1})``,
    no biases. ``forward(x: (N, n_0)) -> (N, n_K)`` applies the product row-wise.
    ``penalty()`` is the lecture's ridge term ``lambda (||W_1||_F^2 + ... + ||W_K||_F^2)``.

    >>> DeepLinear([3, 4, 2])(torch.zeros(5, 3)).shape
    torch.Size([5, 2])
    """

    def __init__(self, widths, ridge=0.0):
        super().__init__()
        self.widths = _check_widths(widths)
        if ridge < 0:
            raise ValueError(f"ridge must be >= 0, got {ridge}")
        self.ridge = float(ridge)
        self.weights = nn.ParameterList(
            [_uniform((o, i), i) for i, o in zip(self.widths[:-1], self.widths[1:])])

    def forward(self, x):
        _check_x(x, self.widths[0], "DeepLinear")
        for W in self.weights:
            x = x @ W.T  # (N, n_k)
        return x

    def penalty(self):
        """``ridge * sum_k ||W_k||_F^2`` (a scalar tensor)."""
        return self.ridge * sum(W.square().sum() for W in self.weights)

    def penalty_batched(self, theta):
        """``ridge * ||theta_b||^2`` for each row of ``theta: (B, d)`` -> ``(B,)``."""
        self.split_theta(theta)  # validates the shape
        return self.ridge * theta.square().sum(dim=1)

    def forward_stacked(self, params, x):
        """``[W_k (B, n_k, n_{k-1})]``, ``x: (N, n_0)`` -> ``(B, N, n_K)``: ``X W_1^T ... W_K^T``."""
        self._check_stacked(params, x)
        h = x
        for W in params:  # W: (B, n_k, n_{k-1})
            h = _layer(h, W)  # (B, N, n_k)
        return h


class PolynomialNet(BatchedForward, nn.Module):
    """K-layer network with quadratic activation (lecture section 3, quadratic lifting).

    ``f(x) = W_K s(W_{K-1} ... s(W_1 x))`` with ``s(z) = z^2`` elementwise, no biases;
    ``widths = [n_0, ..., n_K]``, ``self.weights[k-1] = W_k: (n_k, n_{k-1})``.
    With ``widths = [n, m, 1]`` this is ``QuadraticNet``'s ``U (W x)^2``.
    """

    def __init__(self, widths):
        super().__init__()
        self.widths = _check_widths(widths)
        self.weights = nn.ParameterList(
            [_uniform((o, i), i) for i, o in zip(self.widths[:-1], self.widths[1:])])

    def forward(self, x):
        _check_x(x, self.widths[0], type(self).__name__)
        for k, W in enumerate(self.weights):
            x = x @ W.T
            x = x.square() if k < len(self.weights) - 1 else x
        return x

    def forward_stacked(self, params, x):
        """``[W_k (B, n_k, n_{k-1})]``, ``x: (N, n_0)`` -> ``(B, N, n_K)``."""
        self._check_stacked(params, x)
        Ws, h = params, x
        for k, W in enumerate(Ws):
            h = _layer(h, W)  # (B, N, n_k)
            h = h.square() if k < len(Ws) - 1 else h
        return h


class QuadraticNet(BatchedForward, nn.Module):
    """Two-layer quadratic network ``f(x) = U (W x)^2`` (lecture section 3).

    Parameters (in this order) ``W: (width, n_in)``, ``U: (n_out, width)``; the output
    has shape ``(N, n_out)``, also ``(N, 1)`` in the scalar case ``n_out = 1``. With
    ``U = (u_j)`` it equals ``x^T (sum_j u_j w_j w_j^T) x``: a quadratic form in x, linear
    in the lifted parameter ``M = W^T diag(u) W`` (the quadratic lifting).
    """

    def __init__(self, n_in, width, n_out=1):
        super().__init__()
        self.widths = _check_widths([n_in, width, n_out])
        self.W = _uniform((width, n_in), n_in)
        self.U = _uniform((n_out, width), width)

    def forward(self, x):
        _check_x(x, self.widths[0], "QuadraticNet")
        return (x @ self.W.T).square() @ self.U.T  # (N, n_out)

    def forward_stacked(self, params, x):
        """``[W (B, width, n_in), U (B, n_out, width)]``, ``x: (N, n_in)`` -> ``(B, N, n_out)``."""
        self._check_stacked(params, x)
        W, U = params
        return _layer(_layer(x, W).square(), U)


class TwoLayer(BatchedForward, nn.Module):
    """Two-layer network ``f(x) = W_2 rho(W_1 x)`` (Freeman & Bruna 2017; Venturi et al. 2019).

    ``activation="relu"``: ``rho(z) = max(z, 0)``. ``activation="leaky"``: piecewise
    linear, ``rho(z) = s_+ z`` for ``z > 0`` and ``s_- z`` for ``z < 0``,
    ``slopes = (s_+, s_-)`` (default ``(1.0, 0.1)``). Parameters in order ``W1: (width,
    n_in)``, [``b1: (width,)``], ``W2: (n_out, width)``, [``b2: (n_out,)``]; biases only
    with ``bias=True`` (the lecture has none).
    """

    def __init__(self, n_in, width, n_out, activation="relu", slopes=None, bias=False):
        super().__init__()
        self.widths = _check_widths([n_in, width, n_out])
        if activation not in ("relu", "leaky"):
            raise ValueError(f"unknown activation {activation!r}; options: ['leaky', 'relu']")
        if slopes is None:
            slopes = (1.0, 0.1) if activation == "leaky" else (1.0, 0.0)
        slopes = tuple(slopes)
        if len(slopes) != 2:
            raise ValueError(f"slopes must be a pair (s_plus, s_minus), got {slopes}")
        if activation == "relu" and slopes != (1.0, 0.0):
            raise ValueError(f"activation='relu' has slopes (1, 0); use activation='leaky' for {slopes}")
        self.activation, self.slopes, self.bias = activation, tuple(map(float, slopes)), bias
        self.W1 = _uniform((width, n_in), n_in)
        self.b1 = _uniform((width,), n_in) if bias else None
        self.W2 = _uniform((n_out, width), width)
        self.b2 = _uniform((n_out,), width) if bias else None

    def rho(self, z):
        """The activation: ``s_+ max(z, 0) - s_- max(-z, 0)``."""
        if self.activation == "relu":
            return torch.relu(z)
        s_plus, s_minus = self.slopes
        return s_plus * torch.relu(z) - s_minus * torch.relu(-z)

    def forward(self, x):
        _check_x(x, self.widths[0], "TwoLayer")
        return F.linear(self.rho(F.linear(x, self.W1, self.b1)), self.W2, self.b2)

    def forward_stacked(self, params, x):
        """``[W1, (b1), W2, (b2)]`` stacked along B, ``x: (N, n_in)`` -> ``(B, N, n_out)``."""
        self._check_stacked(params, x)
        p = params
        W1, b1, W2, b2 = p if self.bias else (p[0], None, p[1], None)
        return _layer(self.rho(_layer(x, W1, b1)), W2, b2)


class MLP(BatchedForward, nn.Module):
    """Multilayer perceptron ``f(x) = A_K rho(A_{K-1} ... rho(A_1 x + b_1) ... ) + b_K``.

    ``widths = [n_0, ..., n_K]`` (the digits benchmark uses ``[64, 128, 10]``); layers are
    ``nn.Linear`` modules in ``self.layers``, so parameters are ordered
    ``layers.0.weight, layers.0.bias, layers.1.weight, ...``. ``activation`` is one of
    ``relu, tanh, sigmoid, square, identity``.
    """

    def __init__(self, widths, activation="relu", bias=True):
        super().__init__()
        self.widths = _check_widths(widths)
        self.rho, self.activation, self.bias = _activation(activation), activation, bias
        self.layers = nn.ModuleList(
            [nn.Linear(i, o, bias=bias) for i, o in zip(self.widths[:-1], self.widths[1:])])

    def forward(self, x):
        _check_x(x, self.widths[0], type(self).__name__)
        for k, layer in enumerate(self.layers):
            x = layer(x)
            x = self.rho(x) if k < len(self.layers) - 1 else x
        return x

    def forward_stacked(self, params, x):
        """``[A_1, (b_1), A_2, ...]`` stacked along B, ``x: (N, n_0)`` -> ``(B, N, n_K)``."""
        self._check_stacked(params, x)
        p, h, K = params, x, len(self.layers)
        step = 2 if self.bias else 1
        for k in range(K):
            W, b = p[step * k], (p[step * k + 1] if self.bias else None)
            h = _layer(h, W, b)  # (B, N, n_k)
            if k < K - 1:  # in place: the matmul that made h does not need it for backward
                h = h.relu_() if self.activation == "relu" else self.rho(h)
        return h


class SigmoidNet1441(MLP):
    """The 1-4-4-1 sigmoid network (with biases) of Freeman & Bruna (2017), section 5.

    They fit the cubic ``8x^3 - 10x^2 + 3x`` on [0, 1] with it (see
    ``lecture_lib.data.cubic_regression``); 33 parameters.
    """

    def __init__(self):
        super().__init__([1, 4, 4, 1], activation="sigmoid", bias=True)


class ResNetShamir(nn.Module):
    """Residual predictor ``Phi(x) = w^T (x + V F_theta(x))`` of Shamir (2018).

    ``F_theta(x) = relu(A x + b)`` is a one-hidden-layer ReLU net, ``A: (width, n_in)``,
    ``b: (width,)``, ``V: (n_in, width)``, ``w: (n_in,)``. Shamir proves (under the
    paper's assumptions on the loss) that every local minimum is no worse than the best
    linear predictor ``w^T x``.
    Output shape ``(N, 1)``. ``zero_residual=True`` starts at ``V = 0`` (a linear model).
    """

    def __init__(self, n_in, width, zero_residual=False):
        super().__init__()
        n_in, width = _check_widths([n_in, width])
        self.w = _uniform((n_in,), n_in)
        self.V = nn.Parameter(torch.zeros(n_in, width)) if zero_residual else _uniform((n_in, width), width)
        self.A = _uniform((width, n_in), n_in)
        self.b = _uniform((width,), n_in)
        self.n_in = n_in

    def forward(self, x):
        _check_x(x, self.n_in, "ResNetShamir")
        h = x + torch.relu(F.linear(x, self.A, self.b)) @ self.V.T  # (N, n_in)
        return (h @ self.w)[:, None]  # (N, 1)


class LinearResNet(nn.Module):
    """Linear residual network ``f(x) = (I + A_L) ... (I + A_1) x`` (Hardt & Ma 2017).

    ``self.blocks[l] = A_{l+1}: (dim, dim)``, initialised at ``init_scale * U(-1/sqrt(dim),
    1/sqrt(dim))`` (``init_scale=0`` is the identity map Hardt & Ma start from).
    """

    def __init__(self, dim, depth, init_scale=0.1):
        super().__init__()
        dim, depth = _check_widths([dim, depth])
        self.dim = dim
        self.blocks = nn.ParameterList([_uniform((dim, dim), dim) for _ in range(depth)])
        with torch.no_grad():
            for A in self.blocks:
                A.mul_(init_scale)

    def forward(self, x):
        _check_x(x, self.dim, "LinearResNet")
        for A in self.blocks:
            x = x + x @ A.T
        return x


class SmallCNN(BatchedForward, nn.Module):
    """Two conv-ReLU-maxpool blocks and a linear read-out, for 1xHxW images (28 or 8).

    Input ``(N, 1, H, W)`` or flat ``(N, H*W)`` (reshaped); output logits ``(N, n_classes)``.
    ``forward_batched(theta (B, d), x) -> (B, N, n_classes)`` runs B weight sets at once: the
    first convolution with the B filter banks concatenated, the second as one grouped
    convolution (``groups=B``), the read-out as one ``baddbmm``.

    >>> net = SmallCNN(image_size=8, channels=(2, 3))
    >>> theta = torch.nn.utils.parameters_to_vector(net.parameters())[None]
    >>> x = torch.randn(5, 64)
    >>> torch.allclose(net.forward_batched(theta, x)[0], net(x), atol=1e-6)
    True
    """

    def __init__(self, image_size=28, n_classes=10, channels=(16, 32)):
        super().__init__()
        if image_size % 4 or image_size < 4:
            raise ValueError(f"image_size must be a positive multiple of 4, got {image_size}")
        self.image_size = image_size
        c1, c2 = channels
        self.conv1 = nn.Conv2d(1, c1, 3, padding=1)
        self.conv2 = nn.Conv2d(c1, c2, 3, padding=1)
        self.head = nn.Linear(c2 * (image_size // 4) ** 2, n_classes)

    def _images(self, x, B=None):
        """``(N, 1, s, s)``; with ``B``, per-row inputs ``(B, N, s*s)`` or ``(B, N, 1, s, s)`` become
        ``(N, B, s, s)`` (row b's images on channel b)."""
        s = self.image_size
        if B is not None and isinstance(x, torch.Tensor) and x.dim() in (3, 5):
            if x.shape[0] != B or tuple(x.shape[2:]) not in ((s * s,), (1, s, s)):
                raise ValueError(f"SmallCNN: per-row inputs must have shape (B={B}, N, {s * s}) or "
                                 f"(B={B}, N, 1, {s}, {s}), got {tuple(x.shape)}")
            return x.reshape(B, x.shape[1], s, s).transpose(0, 1)
        if isinstance(x, torch.Tensor) and x.dim() == 2 and x.shape[1] == s * s:
            x = x.reshape(-1, 1, s, s)
        if not isinstance(x, torch.Tensor) or x.dim() != 4 or tuple(x.shape[1:]) != (1, s, s):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"SmallCNN: x must be (N, 1, {s}, {s}) or (N, {s * s}), got {shape}")
        return x

    def forward(self, x):
        x = self._images(x)
        x = F.max_pool2d(torch.relu(self.conv1(x)), 2)
        x = F.max_pool2d(torch.relu(self.conv2(x)), 2)
        return self.head(x.flatten(1))

    def forward_stacked(self, params, x):
        """``[conv1.w, conv1.b, conv2.w, conv2.b, head.w, head.b]`` stacked along B -> ``(B, N, n_classes)``.

        ``x``: shared ``(N, 1, s, s)`` / ``(N, s*s)``, or per row ``(B, N, 1, s, s)`` / ``(B, N, s*s)``."""
        B = _stacked_shapes_ok(self, params)
        x = self._images(x, B)
        w1, b1, w2, b2, wh, bh = params
        h = F.max_pool2d(torch.relu(_grouped_conv(x, w1, b1, F.conv2d, padding=1)), 2)  # (N, B*c1, s/2, s/2)
        h = F.max_pool2d(torch.relu(_grouped_conv(h, w2, b2, F.conv2d, padding=1)), 2)  # (N, B*c2, s/4, s/4)
        return _grouped_head(h, B, wh, bh)


class CNN1D(BatchedForward, nn.Module):
    """1-D CNN for MNIST-1D (length 40), after Greydanus (2020): three stride-2 convs.

    Input ``(N, length)`` or ``(N, 1, length)``; output logits ``(N, n_classes)``.
    ``forward_batched(theta (B, d), x) -> (B, N, n_classes)``: the first convolution with the B
    filter banks concatenated, the others grouped (``groups=B``), one ``baddbmm`` read-out.

    >>> net = CNN1D(channels=3)
    >>> theta = torch.nn.utils.parameters_to_vector(net.parameters())[None]
    >>> x = torch.randn(4, 40)
    >>> torch.allclose(net.forward_batched(theta, x)[0], net(x), atol=1e-6)
    True
    """

    def __init__(self, length=40, n_classes=10, channels=25):
        super().__init__()
        self.length = length
        self.convs = nn.ModuleList([nn.Conv1d(1 if k == 0 else channels, channels, 5, stride=2, padding=1)
                                    for k in range(3)])
        n = length
        for _ in range(3):
            n = (n + 2 - 5) // 2 + 1
        if n < 1:
            raise ValueError(f"length {length} is too short for three stride-2 convolutions")
        self.head = nn.Linear(channels * n, n_classes)

    def _signals(self, x, B=None):
        """``(N, 1, L)``; with ``B``, per-row inputs ``(B, N, L)`` (``N > 1``) or ``(B, N, 1, L)``
        become ``(N, B, L)``. A 3-D ``(n, 1, L)`` is always read as shared ``(N, 1, L)``."""
        L = self.length
        per_row = isinstance(x, torch.Tensor) and (x.dim() == 4 or (x.dim() == 3 and x.shape[1] != 1))
        if B is not None and per_row:
            if x.shape[0] != B or tuple(x.shape[2:]) not in ((L,), (1, L)):
                raise ValueError(f"CNN1D: per-row inputs must have shape (B={B}, N, {L}) or "
                                 f"(B={B}, N, 1, {L}), got {tuple(x.shape)}")
            return x.reshape(B, x.shape[1], L).transpose(0, 1)
        x = x[:, None, :] if isinstance(x, torch.Tensor) and x.dim() == 2 else x
        if not isinstance(x, torch.Tensor) or x.dim() != 3 or tuple(x.shape[1:]) != (1, self.length):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise ValueError(f"CNN1D: x must be (N, {self.length}) or (N, 1, {self.length}), got {shape}")
        return x

    def forward(self, x):
        x = self._signals(x)
        for conv in self.convs:
            x = torch.relu(conv(x))
        return self.head(x.flatten(1))

    def forward_stacked(self, params, x):
        """``[convs.k.w, convs.k.b for k = 0, 1, 2; head.w, head.b]`` stacked along B -> ``(B, N, n_classes)``.

        ``x``: shared ``(N, L)`` / ``(N, 1, L)``, or per row ``(B, N, L)`` / ``(B, N, 1, L)``."""
        B = _stacked_shapes_ok(self, params)
        h = self._signals(x, B)
        for k in range(len(self.convs)):  # (N, B*channels, n_k)
            h = torch.relu(_grouped_conv(h, params[2 * k], params[2 * k + 1], F.conv1d, stride=2, padding=1))
        return _grouped_head(h, B, params[-2], params[-1])


class CharLSTM(BatchedForward, nn.Module):
    """Character-level LSTM language model: embedding -> LSTM -> linear read-out.

    ``forward(idx: LongTensor (N, T)) -> logits (N, T, vocab_size)``, trained with
    cross-entropy on the next character (``lecture_lib.data.text``).

    ``forward_batched(theta (B, d), idx (N, T)) -> (B, N, T, vocab_size)`` runs B weight sets
    at once with the recurrence of ``torch.nn.LSTM`` (its gate order i, f, g, o; Hochreiter &
    Schmidhuber 1997, with the forget gate of Gers et al. 2000), each layer ``l``

        z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh = (z^i, z^f, z^g, z^o),
        c_t = sigma(z^f) * c_{t-1} + sigma(z^i) * tanh(z^g),   h_t = sigma(z^o) * tanh(c_t),

    from ``h_0 = c_0 = 0``, the input projection of all T steps as one ``baddbmm`` and each
    step's ``W_hh h_{t-1}`` as another (``torch.vmap`` has no batching rule for ``aten::lstm``).

    >>> net = CharLSTM(5, hidden=3, embed=2)
    >>> theta = torch.nn.utils.parameters_to_vector(net.parameters())[None]
    >>> idx = torch.randint(0, 5, (2, 4))
    >>> torch.allclose(net.forward_batched(theta, idx)[0], net(idx), atol=1e-6)
    True
    """

    def __init__(self, vocab_size, hidden=128, embed=32, n_layers=1):
        super().__init__()
        vocab_size, hidden, embed, n_layers = _check_widths([vocab_size, hidden, embed, n_layers])
        self.vocab_size = vocab_size
        self.embed = nn.Embedding(vocab_size, embed)
        self.lstm = nn.LSTM(embed, hidden, num_layers=n_layers, batch_first=True)
        self.head = nn.Linear(hidden, vocab_size)

    def _check_idx(self, idx):
        if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype not in (torch.int64, torch.int32):
            got = f"{idx.dtype} {tuple(idx.shape)}" if isinstance(idx, torch.Tensor) else type(idx).__name__
            raise ValueError(f"CharLSTM: idx must be an integer tensor (N, T), got {got}")

    def forward(self, idx):
        self._check_idx(idx)
        h, _ = self.lstm(self.embed(idx))  # (N, T, hidden)
        return self.head(h)

    def forward_stacked(self, params, idx):
        """``[embed.w, (w_ih, w_hh, b_ih, b_hh) per layer, head.w, head.b]`` stacked -> ``(B, N, T, vocab)``.

        ``idx``: shared ``(N, T)`` or per row ``(B, N, T)``."""
        B = _stacked_shapes_ok(self, params)
        if isinstance(idx, torch.Tensor) and idx.dim() == 3:
            if idx.shape[0] != B:
                raise ValueError(f"CharLSTM: per-row inputs must have shape (B={B}, N, T), got {tuple(idx.shape)}")
            self._check_idx(idx[0])
            rows = torch.arange(B, device=idx.device)[:, None]
            N, T = idx.shape[1:]
            h_seq = params[0][rows, idx.reshape(B, -1)]  # (B, N*T, embed)
        else:
            self._check_idx(idx)
            N, T = idx.shape
            h_seq = params[0][:, idx.reshape(-1)]  # (B, N*T, embed): row n*T + t is character (n, t)
        for layer in range(self.lstm.num_layers):
            w_ih, w_hh, b_ih, b_hh = params[1 + 4 * layer: 5 + 4 * layer]
            h_seq = _lstm_layer(h_seq.reshape(B, N, T, -1), w_ih, w_hh, b_ih + b_hh)  # (B, N, T, hidden)
        wh, bh = params[-2], params[-1]
        logits = torch.baddbmm(bh[:, None, :], h_seq.reshape(B, N * T, -1), wh.transpose(1, 2))
        return logits.view(B, N, T, -1)


def _lstm_layer(x, w_ih, w_hh, bias):
    """One LSTM layer for B weight sets: ``x (B, N, T, i)``, ``w_ih (B, 4H, i)``, ``w_hh (B, 4H, H)``,
    ``bias (B, 4H)`` -> hidden states ``(B, N, T, H)`` (gate order i, f, g, o, as ``nn.LSTM``)."""
    B, N, T, _ = x.shape
    H = w_hh.shape[-1]
    pre = torch.baddbmm(bias[:, None, :], x.reshape(B, N * T, -1), w_ih.transpose(1, 2)).view(B, N, T, 4 * H)
    h = x.new_zeros(B, N, H)
    c = x.new_zeros(B, N, H)
    w_hh_t = w_hh.transpose(1, 2)  # (B, H, 4H)
    outs = []
    for t in range(T):
        z = torch.baddbmm(pre[:, :, t], h, w_hh_t)  # (B, N, 4H)
        i, f, g, o = z.chunk(4, dim=-1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, dim=2)
