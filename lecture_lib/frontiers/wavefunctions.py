"""Neural-network wave functions: the RBM ansatz of Carleo & Troyer (2017) for the transverse-field
Ising chain, optimised with exact sums over all ``2^N`` configurations, against exact diagonalization.

The periodic chain of ``N`` spins ``1/2``,

    H = -J sum_i sigma^z_i sigma^z_{i+1} - h sum_i sigma^x_i,   sigma_{N+1} = sigma_1,

is built as a sparse ``2^N x 2^N`` matrix in the basis ``sigma^z = +-1`` (:func:`tfim_hamiltonian`);
its ground-state energy comes from ``scipy.sparse.linalg.eigsh`` (:func:`exact_ground_energy`)
and, for every ``N >= 2`` and ``J, h >= 0``, in closed form from the Jordan-Wigner free fermions
(Pfeuty 1970):

    E_0 = - sum_{k} sqrt(J^2 + h^2 - 2 J h cos k),   k = (2m + 1) pi / N,  m = 0..N-1

(:func:`free_fermion_ground_energy`). For ``h > 0`` the ground state is unique with positive
amplitudes (Perron-Frobenius), so it is even under the global flip ``prod_i sigma^x_i``: the
sector of even fermion parity, with antiperiodic momenta ``k``, for odd ``N`` too (there the
unpaired mode ``k = pi`` contributes ``-(J + h)``). The critical field is ``h = J``.

The RBM wave function with ``M = alpha N`` hidden units (Carleo & Troyer 2017), the
hidden units summed out, is

    psi_theta(s) = exp(sum_i a_i s_i) prod_j 2 cosh(b_j + sum_i W_ji s_i),

with real parameters ``theta = (a, b, W)``, enough here because the TFIM ground state is
positive (the Hamiltonian is stoquastic). The variational energy
``E(theta) = <psi|H|psi> / <psi|psi>`` is an *energy* in the library's sense,
``Tensor[B, d] -> Tensor[B]`` (:func:`rbm_energy`), computed exactly over all ``2^N``
configurations; it is an upper bound on ``E_0`` for every ``theta`` (the variational principle).

>>> H = tfim_hamiltonian(4, h=1.0)
>>> abs(exact_ground_energy(H) - free_fermion_ground_energy(4, h=1.0)) < 1e-10
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from lecture_lib.arguments import positive_float, positive_int, real
from lecture_lib.train import make_optimizer

MAX_SPINS = 16  # 2^16 configurations: the exact sums stay cheap


def _check_n(n_spins):
    n = positive_int("n_spins", n_spins)
    if not 2 <= n <= MAX_SPINS:
        raise ValueError(f"n_spins must be in [2, {MAX_SPINS}] for exact sums, got {n_spins!r}")
    return n


def configurations(n_spins: int, dtype=torch.float64) -> torch.Tensor:
    """All ``2^N`` spin configurations ``s in {+1, -1}^N`` as ``(2^N, N)``; row ``c`` has
    ``s_i = 1 - 2 * bit_i(c)`` (bit 0 is spin 0)."""
    n = _check_n(n_spins)
    c = torch.arange(2**n)[:, None]
    bits = (c >> torch.arange(n)) & 1
    return (1 - 2 * bits).to(dtype)


def tfim_hamiltonian(n_spins: int, h: float, J: float = 1.0) -> sp.csr_matrix:
    """Sparse ``H = -J sum sz_i sz_{i+1} - h sum sx_i`` on the periodic chain (float64, CSR)."""
    n, h, J = _check_n(n_spins), real("h", h), real("J", J)
    dim = 2**n
    c = np.arange(dim)
    bits = (c[:, None] >> np.arange(n)) & 1
    s = 1 - 2 * bits  # (dim, n)
    diag = -J * (s * np.roll(s, -1, axis=1)).sum(1)
    rows = [c] + [c] * n
    cols = [c] + [c ^ (1 << i) for i in range(n)]  # sigma^x_i flips spin i
    vals = [diag.astype(np.float64)] + [np.full(dim, -h)] * n
    return sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(dim, dim))


def exact_ground_energy(H) -> float:
    """Lowest eigenvalue of the sparse symmetric ``H`` (``eigsh``, Lanczos; dense for tiny H)."""
    if H.shape[0] <= 64:
        return float(np.linalg.eigvalsh(H.toarray())[0])
    return float(spla.eigsh(H, k=1, which="SA", tol=1e-12, v0=np.ones(H.shape[0]))[0][0])


def free_fermion_ground_energy(n_spins: int, h: float, J: float = 1.0) -> float:
    """Closed form of the module docstring (any ``N >= 2``, ``J, h >= 0``)."""
    n, h, J = _check_n(n_spins), real("h", h, low=0.0), real("J", J, low=0.0)
    k = (2 * np.arange(n) + 1) * np.pi / n
    return float(-np.sqrt(J**2 + h**2 - 2 * J * h * np.cos(k)).sum())


def n_parameters(n_spins: int, n_hidden: int) -> int:
    """``d = N + M + M N`` (``a``, ``b``, ``W``)."""
    return n_spins + n_hidden + n_hidden * n_spins


def rbm_log_psi(theta: torch.Tensor, s: torch.Tensor, n_hidden: int) -> torch.Tensor:
    """``log psi_theta(s)`` for ``theta (B, d)``, ``s (C, N)`` -> ``(B, C)``."""
    n = s.shape[1]
    a, b = theta[:, :n], theta[:, n:n + n_hidden]  # (B, N), (B, M)
    W = theta[:, n + n_hidden:].reshape(-1, n_hidden, n)  # (B, M, N)
    act = b[:, None, :] + torch.einsum("bmn,cn->bcm", W, s)  # (B, C, M)
    log_2cosh = act.abs() + torch.log1p(torch.exp(-2 * act.abs()))  # log(2 cosh x), no overflow
    return a @ s.T + log_2cosh.sum(-1)  # (B, C)


def rbm_energy(n_spins: int, h: float, n_hidden: int, J: float = 1.0):
    """The variational energy ``E(theta) = <psi|H|psi> / <psi|psi>``: ``(B, d) -> (B,)``, exact."""
    n, m = _check_n(n_spins), positive_int("n_hidden", n_hidden)
    H = tfim_hamiltonian(n, h, J).tocoo()
    s = configurations(n)
    rows, cols = torch.from_numpy(H.row.astype(np.int64)), torch.from_numpy(H.col.astype(np.int64))
    vals = torch.from_numpy(H.data)
    d = n_parameters(n, m)

    def energy(theta):
        if theta.dim() != 2 or theta.shape[1] != d:
            raise ValueError(f"theta must have shape (B, {d}) for N={n}, M={m}, got {tuple(theta.shape)}")
        log_psi = rbm_log_psi(theta, s.to(theta), m)  # (B, C)
        psi = torch.exp(log_psi - log_psi.max(1, keepdim=True).values)  # rescaled: E is scale-free
        # (H psi)_r = sum over stored entries (r, c) of H_rc psi_c: a gather and a scatter-add,
        # measured far faster than torch.sparse.mm (and its backward) on CPU
        terms = psi[:, cols.to(psi.device)] * vals.to(psi)  # (B, nnz)
        h_psi = torch.zeros_like(psi).index_add_(1, rows.to(psi.device), terms)  # (B, C)
        return (psi * h_psi).sum(1) / psi.square().sum(1)

    return energy


@dataclass(frozen=True)
class GroundStateResult:
    """``energy`` variational, ``exact`` from diagonalization, ``relative_error = (E - E_0) / |E_0|``
    (>= 0 up to rounding, by the variational principle); ``theta (d,)``; ``history (steps,)``."""

    n_spins: int
    h: float
    n_hidden: int
    alpha: float
    energy: float
    exact: float
    relative_error: float
    theta: torch.Tensor
    history: torch.Tensor
    message: str


def fit_ground_state(n_spins: int, h: float, alpha: int = 1, *, steps: int = 600, lr: float = 0.02,
                     seed: int = 0, J: float = 1.0, init_scale: float = 0.05) -> GroundStateResult:
    """Adam on the exact variational energy of an RBM with ``M = alpha N`` hidden units.

    Carleo & Troyer (2017) optimise with stochastic reconfiguration on Monte Carlo samples;
    here the sums are exact, so plain gradients of ``E(theta)`` suffice at this size.
    Initial parameters ``init_scale * N(0, 1)`` from ``torch.Generator().manual_seed(seed)``.
    """
    n, alpha = _check_n(n_spins), positive_int("alpha", alpha)
    steps, lr = positive_int("steps", steps), positive_float("lr", lr)
    m = alpha * n
    energy = rbm_energy(n, h, m, J)
    g = torch.Generator().manual_seed(int(seed))
    theta = (init_scale * torch.randn(1, n_parameters(n, m), generator=g, dtype=torch.float64)).requires_grad_()
    opt = make_optimizer("adam", [theta], lr)
    history = torch.empty(steps, dtype=torch.float64)
    for t in range(steps):
        value = energy(theta)
        opt.zero_grad(set_to_none=True)
        value.sum().backward()
        opt.step()
        history[t] = value.detach()[0]
    with torch.no_grad():
        e = float(energy(theta)[0])
    exact = exact_ground_energy(tfim_hamiltonian(n, h, J))
    rel = (e - exact) / abs(exact)
    return GroundStateResult(n, float(h), m, float(alpha), e, exact, rel, theta.detach()[0], history,
                             f"RBM N={n}, h={h:g}, alpha={alpha} (M={m}): E={e:.8f}, exact {exact:.8f}, "
                             f"relative error {rel:.2e} after {steps} Adam steps")
