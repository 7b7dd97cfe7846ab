"""Chapter 1's counterexample (surfaces.spiral_energy): no spurious valley, no non-increasing path."""

import math

import torch

from lecture_lib import paths
from lecture_lib.surfaces import spiral_energy, spiral_trough


def polar(r, phi):
    return torch.stack([r * torch.cos(phi), r * torch.sin(phi)], dim=1)


def test_spiral_is_zero_exactly_on_the_unit_circle_and_above_elsewhere():
    g = torch.Generator().manual_seed(0)
    phi = 2 * math.pi * torch.rand(2000, generator=g, dtype=torch.float64)
    assert spiral_energy(polar(torch.ones_like(phi), phi)).abs().max() < 1e-15
    r = 3 * torch.rand(2000, generator=g, dtype=torch.float64)
    e = spiral_energy(polar(r, phi))
    assert bool((e >= (r - 1).abs() * (1 - 1e-12)).all())  # E >= |r - 1| > 0 off the circle


def test_spiral_is_continuous_across_its_three_pieces():
    phi = torch.linspace(-3, 3, 61, dtype=torch.float64)
    for r0 in (1.0, 2.0):
        lo, hi = spiral_energy(polar(torch.full_like(phi, r0 - 1e-9), phi)), spiral_energy(
            polar(torch.full_like(phi, r0 + 1e-9), phi))
        assert (lo - hi).abs().max() < 1e-7


def test_the_trough_descends_as_two_to_the_minus_s_and_winds_without_end():
    s = torch.linspace(0, 20, 2001, dtype=torch.float64)
    pts = spiral_trough(s)
    assert (spiral_energy(pts) - 2.0 ** (-s)).abs().max() < 1e-14
    turns = torch.atan2(pts[:, 1], pts[:, 0]).diff().remainder(2 * math.pi).sum() / (2 * math.pi)
    assert abs(float(turns) - 20) < 1e-6  # one turn per unit of s: it never settles at a point


def test_the_crest_is_higher_than_the_trough_before_it_within_a_quarter_turn():
    """The inequality of the proof: in the lifted coordinates sigma = -log2(r - 1), psi = phi / 2 pi,
    v = sigma - psi, a point with v = k + 1/2 is higher than every point with v = k whose angle is
    within a quarter turn of it, so a non-increasing path cannot converge to the circle."""
    g = torch.Generator().manual_seed(1)
    n = 20000
    k = torch.randint(0, 12, (n,), generator=g).double()
    psi0 = torch.rand(n, generator=g, dtype=torch.float64)
    dt, dc = (0.48 * torch.rand(n, generator=g, dtype=torch.float64) - 0.24 for _ in range(2))
    def point(v, psi):
        sigma = v + psi
        return polar(1 + 2.0 ** (-sigma), 2 * math.pi * psi)
    trough, crest = point(k, psi0 + dt), point(k + 0.5, psi0 + dc)
    keep = (k + psi0 + dt > 0) & (k + 0.5 + psi0 + dc > 0)  # inside 1 < r < 2
    assert bool((spiral_energy(crest)[keep] > spiral_energy(trough)[keep]).all())


def test_the_path_of_the_proposition_stays_under_the_start_and_reaches_the_circle():
    s1 = math.log2(3) + 1  # past it the crests 3 (r - 1) are under 1 = E(theta_0)
    along = spiral_trough(torch.linspace(0, s1, 400, dtype=torch.float64))
    end = along[-1] / along[-1].norm()
    radial = torch.linspace(0, 1, 400, dtype=torch.float64)[1:, None] * (end - along[-1]) + along[-1]
    path = paths.Path(torch.cat([along, radial]))
    prof = paths.profile(spiral_energy, path, n_points=257)
    assert prof.max_energy <= 1 + 1e-9 and abs(float(spiral_energy(along[:1])) - 1) < 1e-12
    assert float(spiral_energy(path.nodes[-1:])) < 1e-12
    e = spiral_energy(radial)
    assert bool((e.diff() > 0).any())  # the radial part climbs crests: the path is not monotone
