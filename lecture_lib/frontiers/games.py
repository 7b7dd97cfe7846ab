"""n-player differentiable games and symplectic gradient adjustment (Balduzzi et al. 2018).

A game has players ``k = 1..n``, each controlling a block ``w_k`` of ``theta = (w_1, ..., w_n)``
and minimising its own loss ``l_k(theta)``. A :class:`Game` holds ``losses: Tensor[B, d] ->
Tensor[B, n]`` (a batched energy per player) and the block sizes. The *simultaneous gradient*

    xi(theta) = (grad_{w_1} l_1, ..., grad_{w_n} l_n)

is not the gradient of anything in general. Its Jacobian ``J = grad xi`` splits as
``J = S + A`` with ``S = (J + J^T) / 2`` (symmetric: the *potential* part) and
``A = (J - J^T) / 2`` (antisymmetric: the *Hamiltonian* part) (Balduzzi et al. 2018).
A potential game (``A = 0``) is gradient descent on a landscape; a Hamiltonian game
(``S = 0``) conserves ``H = ||xi||^2 / 2`` under the flow ``theta' = -xi`` and cycles.

Symplectic gradient adjustment (their Algorithm 1) follows

    xi_lambda = xi + lambda A^T xi,
    lambda = lambda_0 * sign( <xi, grad H> <A^T xi, grad H> / d + eps ),  grad H = J^T xi,

with ``eps = 1/10`` (the *sign rule*, "alignment"): it attracts towards stable fixed points
and repels from unstable ones.

>>> g = bilinear()
>>> J = jacobian(g, torch.tensor([[1.0, 2.0]], dtype=torch.float64))[0]
>>> J.tolist()
[[0.0, 1.0], [-1.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.func import jacrev, vmap

from lecture_lib.arguments import choice, positive_float, positive_int, real

SIGN_EPS = 0.1  # Balduzzi et al. (2018), Algorithm 1: sign(<xi, dH><A^T xi, dH> / d + 1/10)


@dataclass(frozen=True)
class Game:
    """``losses(theta (B, d)) -> (B, n_players)``; player k controls ``sizes[k]`` coordinates."""

    name: str
    losses: object
    sizes: tuple
    description: str

    @property
    def dim(self) -> int:
        return sum(self.sizes)


def quadratic_game(a: float, b: float, name: str | None = None) -> Game:
    """``l_1 = a x^2 / 2 + b x y``, ``l_2 = a y^2 / 2 - b x y``: ``J = a I + b [[0, 1], [-1, 0]]``.

    ``a`` is the potential part (``S = a I``), ``b`` the Hamiltonian part; ``a = 0`` is the
    bilinear zero-sum game, ``b = 0`` a potential game. Balduzzi et al. (2018) use
    ``a = 1, b = 10``. The unique fixed point is the origin, stable iff ``a > 0``.
    """
    a, b = real("a", a), real("b", b)

    def losses(theta):  # (B, 2) -> (B, 2)
        x, y = theta[:, 0], theta[:, 1]
        return torch.stack([0.5 * a * x**2 + b * x * y, 0.5 * a * y**2 - b * x * y], dim=1)

    return Game(name or f"quadratic(a={a:g}, b={b:g})", losses, (1, 1),
                f"l1 = {a:g} x^2/2 + {b:g} xy, l2 = {a:g} y^2/2 - {b:g} xy")


def bilinear() -> Game:
    """The zero-sum game ``l_1 = x y = -l_2``: purely Hamiltonian, ``xi = (y, -x)``."""
    return quadratic_game(0.0, 1.0, "bilinear")


def _xi_single(game, theta):  # (d,) -> (d,)
    jac = jacrev(lambda t: game.losses(t[None])[0])(theta)  # (n, d): d l_k / d theta
    blocks, start = [], 0
    for k, size in enumerate(game.sizes):
        blocks.append(jac[k, start:start + size])
        start += size
    return torch.cat(blocks)


def _check_theta(game, theta):
    if not isinstance(theta, torch.Tensor) or theta.dim() != 2 or theta.shape[1] != game.dim:
        shape = tuple(theta.shape) if isinstance(theta, torch.Tensor) else type(theta).__name__
        raise ValueError(f"theta must have shape (B, {game.dim}) for {game.name}, got {shape}")


def simultaneous_gradient(game: Game, theta: torch.Tensor) -> torch.Tensor:
    """``xi(theta)``: ``(B, d) -> (B, d)``, each player's gradient of its own loss."""
    _check_theta(game, theta)
    return vmap(lambda t: _xi_single(game, t))(theta)


def jacobian(game: Game, theta: torch.Tensor) -> torch.Tensor:
    """The game Jacobian ``J = grad xi``: ``(B, d) -> (B, d, d)``, ``J[b, i, j] = d xi_i / d theta_j``."""
    _check_theta(game, theta)
    return vmap(jacrev(lambda t: _xi_single(game, t)))(theta)


def decompose(J) -> tuple:
    """``(S, A) = ((J + J^T) / 2, (J - J^T) / 2)`` for ``J (..., d, d)``: ``S`` symmetric,
    ``A`` antisymmetric, ``S + A = J``: the unique such split, the generalized Helmholtz
    decomposition of Balduzzi et al. (2018)."""
    J = torch.as_tensor(J)
    if J.dim() < 2 or J.shape[-1] != J.shape[-2]:
        raise ValueError(f"J must be a square matrix (..., d, d), got shape {tuple(J.shape)}")
    Jt = J.transpose(-1, -2)
    return (J + Jt) / 2, (J - Jt) / 2


def _per_row(name, value, n, dtype, positive=False):
    """A float or a sequence of ``n`` floats as a ``(n,)`` tensor, each checked."""
    values = [value] * n if isinstance(value, (int, float)) or (
        isinstance(value, torch.Tensor) and value.dim() == 0) else list(value)
    if len(values) != n:
        raise ValueError(f"{name} must be a number or {n} numbers (one per row of theta), got {len(values)}")
    check = positive_float if positive else real
    return torch.tensor([check(name, v) for v in values], dtype=dtype)


def adjustment(game: Game, theta: torch.Tensor, lam, align: bool = True):
    """``(xi_lambda, lambda_used)``: ``xi + lambda A^T xi`` for ``theta (B, d)``.

    ``lam`` is a number or one per row. ``align=True`` applies the sign rule of the module
    docstring, so ``lambda_used (B,)`` is ``+-lam``; ``align=False`` uses ``lam`` as given.
    """
    _check_theta(game, theta)
    lam = _per_row("lam", lam, len(theta), theta.dtype).to(theta.device)
    J, xi = vmap(jacrev(lambda t: (_xi_single(game, t),) * 2, has_aux=True))(theta)  # (B, d, d), (B, d)
    _, A = decompose(J)
    at_xi = torch.einsum("bji,bj->bi", A, xi)  # A^T xi
    if align:
        grad_h = torch.einsum("bji,bj->bi", J, xi)  # J^T xi = grad (||xi||^2 / 2)
        score = (xi * grad_h).sum(1) * (at_xi * grad_h).sum(1) / game.dim + SIGN_EPS
        lam = lam * torch.sign(score)
    return xi + lam[:, None] * at_xi, lam


@dataclass(frozen=True)
class Trajectory:
    """``path (steps + 1, B, d)``; ``distance (steps + 1, B)`` to the fixed point
    ``target`` (the origin for the quadratic games); ``converged`` (B,) when the last distance
    is below ``tol`` times the first; ``lams (steps, B)`` the signed adjustments used (0 for
    simultaneous descent); ``lr (B,)`` the learning rate of each row."""

    path: torch.Tensor
    distance: torch.Tensor
    lams: torch.Tensor
    converged: torch.Tensor
    method: str
    lr: torch.Tensor
    message: str


METHODS = ("simultaneous", "sga")


def run(game: Game, theta0, *, method: str = "simultaneous", lr: float = 0.05, lam: float = 1.0,
        steps: int = 100, align: bool = True, target=None, tol: float = 1e-2) -> Trajectory:
    """Iterate ``theta <- theta - lr * xi`` (``simultaneous``) or ``- lr * xi_lambda`` (``sga``).

    ``lr`` and ``lam`` are numbers or one per row of ``theta0 (B, d)``, so a sweep over
    settings is one batched run. ``theta0`` is not modified. Divergence is reported, never raised: a run whose
    distance became non-finite has ``converged = False``.
    """
    choice("method", method, METHODS)
    steps, tol = positive_int("steps", steps), positive_float("tol", tol)
    theta = torch.as_tensor(theta0, dtype=torch.float64).clone()
    _check_theta(game, theta)
    lr_rows = _per_row("lr", lr, len(theta), theta.dtype, positive=True)[:, None]  # (B, 1)
    target = torch.zeros(game.dim) if target is None else torch.as_tensor(target)
    target = target.to(theta)
    path, lams = [theta], []
    for _ in range(steps):
        if method == "sga":
            step, lam_used = adjustment(game, theta, lam, align)
        else:
            step, lam_used = simultaneous_gradient(game, theta), torch.zeros(len(theta), dtype=theta.dtype)
        theta = (theta - lr_rows * step).detach()
        path.append(theta)
        lams.append(lam_used.detach())
    path = torch.stack(path)  # (steps + 1, B, d)
    distance = (path - target).norm(dim=-1)  # (steps + 1, B)
    converged = torch.isfinite(distance[-1]) & (distance[-1] <= tol * distance[0])
    ratio = (distance[-1] / distance[0]).nan_to_num(float("inf"))
    message = (f"{method} on {game.name}: distance to the fixed point x{float(ratio.median()):.3g} "
               f"after {steps} steps "
               f"(median over {len(theta)} starts), {int(converged.sum())} converged")
    return Trajectory(path, distance, torch.stack(lams), converged, method, lr_rows[:, 0], message)


def vector_field(game: Game, extent=(-2.0, 2.0, -2.0, 2.0), resolution: int = 15):
    """``(X, Y, U, V)`` on a grid, ``(U, V) = -xi``: the direction simultaneous descent moves."""
    if game.dim != 2:
        raise ValueError(f"vector_field draws 2-D games, {game.name} has d = {game.dim}")
    n = positive_int("resolution", resolution)
    x0, x1, y0, y1 = extent
    X, Y = torch.meshgrid(torch.linspace(x0, x1, n, dtype=torch.float64),
                          torch.linspace(y0, y1, n, dtype=torch.float64), indexing="xy")
    xi = simultaneous_gradient(game, torch.stack([X.reshape(-1), Y.reshape(-1)], 1))
    return X.numpy(), Y.numpy(), -xi[:, 0].reshape(n, n).numpy(), -xi[:, 1].reshape(n, n).numpy()
