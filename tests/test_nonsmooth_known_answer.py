"""A non-smooth known answer in d >= 3: the shortest path around an L1 ball.

``E(x) = max(0, r0 - ||x||_1)`` is a max of linear functions (``||x||_1`` is the max of
``s . x`` over sign vectors ``s``), bounded below by 0, with kinks on every coordinate
hyperplane. Its sublevel set ``{E <= u}`` is the outside of the cross-polytope
``{||x||_1 < r}``, ``r = r0 - u``. Between ``a = c e_1`` and ``b = -c e_1`` (``c >= r``) every
path crosses the hyperplane ``x_1 = 0`` at some ``p`` with ``sum_i |p_i| >= r``, so its length
is at least ``|a - p| + |p - b| = 2 sqrt(c^2 + |p|^2)``; over that set ``|p|^2`` is smallest,
``r^2 / (d - 1)``, at ``|p_i| = r / (d - 1)`` (Cauchy-Schwarz), and the polygon ``a -> p -> b``
stays outside the ball (``||(1 - s) a + s p||_1 = (1 - s) c + s r >= r``). So the geodesic
length is exactly ``2 sqrt(c^2 + r^2 / (d - 1))``: ``3 sqrt(2)`` for ``c = 2, r = 1, d = 3``.
"""

import math

import pytest
import torch

from lecture_lib.paths import geodesic, string_sampling

R0, U, C = 1.5, 0.5, 2.0  # obstacle radius r = R0 - U = 1


def l1_obstacle(theta):
    return (R0 - theta.abs().sum(1)).clamp_min(0)


def shortest_length(r, d, c=C):
    return 2 * math.sqrt(c ** 2 + r ** 2 / (d - 1))


def ends(d):
    a = torch.zeros(d, dtype=torch.float64)
    a[0] = C
    return a, -a


def test_closed_form_length_is_attained_by_the_two_segment_path():
    d = 3
    a, b = ends(d)
    p = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)
    s = torch.linspace(0, 1, 201, dtype=torch.float64)[:, None]
    pts = torch.cat([(1 - s) * a + s * p, (1 - s) * p + s * b])
    assert float(l1_obstacle(pts).max()) <= U + 1e-12  # inside the sublevel set
    length = float((p - a).norm() + (b - p).norm())
    assert length == pytest.approx(shortest_length(1.0, d)) == pytest.approx(3 * math.sqrt(2))


@pytest.mark.parametrize("d", [3, 5])
@pytest.mark.parametrize("method", ["greedy", "constrained"])
def test_string_sampling_goes_around_the_l1_ball_and_is_not_shorter_than_the_geodesic(method, d):
    a, b = ends(d)
    r = string_sampling(l1_obstacle, a, b, U, method=method, progress=False)
    assert r.connected, r.message
    # accepted segments may reach accept_level: the obstacle shrinks to r0 - accept_level
    r_min = R0 - r.info["accept_level"]
    assert r.length >= shortest_length(r_min, d) - 1e-9
    assert r.normalized_length < 1.5 * shortest_length(1.0, d) / (2 * C)  # a detour, not a wander


def test_geodesic_shortens_to_the_closed_form_length():
    d = 3
    a, b = ends(d)
    r = geodesic(l1_obstacle, a, b, U, progress=False)
    exact = shortest_length(1.0, d)
    assert r.connected, r.message
    assert r.length >= shortest_length(R0 - U - 1e-3, d) - 1e-9  # no shortcut through the ball
    assert r.length == pytest.approx(exact, rel=0.02)
