import pytest
import torch

from lecture_lib import surfaces
from lecture_lib.paths import Path, neb
from lecture_lib.paths.elastic_band import METHODS, OPTIMIZERS, neb_forces, tangents

f64 = torch.float64
MB = surfaces.get("muller_brown")
A, B = (torch.tensor(p, dtype=f64) for p, _ in MB.minima[:2])
SADDLE, SADDLE_E = torch.tensor(MB.saddles[0][0], dtype=f64), MB.saddles[0][1]  # (-0.822, 0.624), -40.66


def ridge(theta):
    """``y^2 + 3 exp(-((x - 0.3) / 0.05)^2)``: a narrow ridge across the x axis, saddle (0.3, 0) at 3."""
    x, y = theta[:, 0], theta[:, 1]
    return y ** 2 + 3 * torch.exp(-((x - 0.3) / 0.05) ** 2)


@pytest.fixture(scope="module")
def mb_band():
    return neb(MB.energy, A, B, progress=False)


def test_climbing_image_lands_on_the_highest_muller_brown_saddle(mb_band):
    r = mb_band
    assert r.success and r.info["converged"], r.message
    assert torch.linalg.vector_norm(r.info["saddle"] - SADDLE) < 1e-2
    assert abs(r.info["saddle_energy"] - SADDLE_E) < 0.1
    # the band's maximum is the saddle: the highest point of the minimum energy path
    assert abs(r.max_energy - SADDLE_E) < 0.1
    assert r.path.nodes[r.info["climbing"]].equal(r.info["saddle"])


def test_band_passes_the_lower_saddle_and_the_intermediate_minimum(mb_band):
    # The MEP from A to B runs A -> saddle 1 -> C -> saddle 2 -> B (Mueller & Brown 1979).
    nodes = mb_band.path.nodes
    for point in (MB.minima[2][0], MB.saddles[1][0]):
        assert torch.linalg.vector_norm(nodes - torch.tensor(point, dtype=f64), dim=1).min() < 0.1


@pytest.mark.parametrize("kw", [dict(method="plain"), dict(respace=True), dict(optimizer="sgd")])
def test_variants_converge_to_the_same_saddle(kw):
    r = neb(MB.energy, A, B, progress=False, **kw)
    assert r.info["converged"], r.message
    assert torch.linalg.vector_norm(r.info["saddle"] - SADDLE) < 1e-2
    assert abs(r.info["saddle_energy"] - SADDLE_E) < 0.1


def test_improved_tangent_band_without_climbing_has_max_energy_near_the_saddle():
    r = neb(MB.energy, A, B, climbing=False, progress=False)
    assert r.info["converged"] and r.info["climbing"] is None and r.info["saddle"] is None
    # any path from A to B rises at least to the saddle; the relaxed band only slightly above
    assert SADDLE_E - 1e-6 <= r.max_energy < SADDLE_E + 0.1
    assert r.profile.converged and r.certified is False  # estimated, not a bound


def test_band_on_the_bowl_relaxes_to_the_straight_segment():
    bowl = surfaces.get("bowl").energy
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64)
    bent = Path(torch.tensor([[-1.0, 0.0], [0.0, 0.5], [1.0, 0.0]], dtype=f64))
    assert bent.normalized_length() > 1.1
    for respace in (False, True):
        r = neb(bowl, a, b, init=bent, respace=respace, progress=False)
        assert r.info["converged"], r.message
        assert abs(r.normalized_length - 1) < 1e-3
        assert r.info["climbing"] is None  # no interior maximum to climb to
        assert abs(r.max_energy - 1.0) < 1e-6 and abs(r.barrier) < 1e-6


def test_autoneb_inserts_a_pivot_on_the_narrow_ridge_and_finds_its_saddle():
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64)
    r = neb(ridge, a, b, n_images=3, autoneb=True, autoneb_rounds=2, progress=False)
    first = r.info["autoneb"][0]
    # pivots at x = -1, -0.5, 0, 0.5, 1: the ridge at 0.3 lies in segment 2, dense spacing 1/16
    assert first["segments"] == [2]
    assert abs(float(first["inserted"][0, 0]) - 0.3) <= 0.5 / 16
    assert r.path.n_nodes > 5
    assert r.info["converged"], r.message
    assert torch.linalg.vector_norm(r.info["saddle"] - torch.tensor([0.3, 0.0], dtype=f64)) < 1e-3
    assert abs(r.max_energy - 3.0) < 1e-3


def test_autoneb_inserts_nothing_on_a_smooth_band():
    bowl = surfaces.get("bowl").energy
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64)
    r = neb(bowl, a, b, n_images=7, autoneb=True, progress=False)
    assert len(r.info["autoneb"]) == 1 and r.info["autoneb"][0]["segments"] == []
    assert r.path.n_nodes == 9


def test_evaluation_count_is_one_batched_band_per_iteration(mb_band):
    r, n = mb_band, 15
    it = r.info["iterations"]
    # ends (2) + initial band for the energy unit (n) and for the default scales (n) + the ends'
    # gradients for the force tolerance (2) + one band per iteration, the last one included
    # (n (it + 1)) + the profile
    assert r.n_evaluations == 2 + n + n + 2 + n * (it + 1) + r.profile.n_evaluations


def test_each_iteration_is_one_batched_call_of_all_images():
    calls = []

    def energy(theta):
        calls.append(theta.shape[0])
        return MB.energy(theta)

    r = neb(energy, A, B, n_images=9, climbing=False, max_iter=40, progress=False)
    it = r.info["iterations"]
    # ends, the initial band (for the energy unit, then for the scales), the ends' gradients
    # (for the force tolerance), then one call of all images per iteration
    band_calls = calls[:4 + it + 1]
    assert band_calls == [2, 9, 9, 2] + [9] * (it + 1)
    assert sum(calls[len(band_calls):]) == r.profile.n_evaluations


def test_same_seed_gives_the_same_band():
    kw = dict(jitter=0.5, max_iter=50, progress=False)
    r1, r2 = neb(MB.energy, A, B, seed=3, **kw), neb(MB.energy, A, B, seed=3, **kw)
    r3 = neb(MB.energy, A, B, seed=4, **kw)
    assert torch.equal(r1.path.nodes, r2.path.nodes)
    assert not torch.allclose(r1.path.nodes, r3.path.nodes)


def test_callers_tensors_are_unchanged():
    a, b = A.clone(), B.clone()
    init = Path(torch.stack([a, torch.tensor([0.0, 1.0], dtype=f64), b]))
    nodes0 = init.nodes.clone()
    r = neb(MB.energy, a, b, init=init, max_iter=20, progress=False)
    assert torch.equal(a, A) and torch.equal(b, B) and torch.equal(init.nodes, nodes0)
    assert r.path.nodes.data_ptr() != a.data_ptr()


def test_neb_forces_known_values_and_purity():
    bowl = lambda th: (th ** 2).sum(1)  # noqa: E731
    nodes = torch.tensor([[-1.0, 0.0], [0.0, 0.5], [1.0, 0.0]], dtype=f64)
    before = nodes.clone()
    f = neb_forces(bowl, nodes)
    assert torch.equal(nodes, before)
    assert f.forces[0].abs().max() == 0 and f.forces[-1].abs().max() == 0
    # tangent (1, 0) at a minimum between equal neighbours; grad (0, 1): force (0, -1)
    torch.testing.assert_close(f.tangents[1], torch.tensor([1.0, 0.0], dtype=f64))
    torch.testing.assert_close(f.forces[1], torch.tensor([0.0, -1.0], dtype=f64))
    # climbing image: F = -grad + 2 (grad . tau) tau, no spring
    E = lambda th: -((th - torch.tensor([0.2, 0.0], dtype=th.dtype)) ** 2).sum(1) + th[:, 1]  # noqa: E731
    g = neb_forces(E, torch.tensor([[-1.0, 0.0], [0.0, 0.0], [1.0, 0.0]], dtype=f64), climbing=True)
    assert g.climbing == 1  # node index
    grad = torch.tensor([0.4, 1.0], dtype=f64)  # of E at (0, 0)
    tau = g.tangents[1]
    torch.testing.assert_close(g.forces[1], -grad + 2 * (grad @ tau) * tau)


def test_improved_tangent_points_to_the_higher_neighbour():
    nodes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]], dtype=f64)
    up = tangents(nodes, torch.tensor([0.0, 1.0, 2.0], dtype=f64))  # rising: tau = tau^+
    down = tangents(nodes, torch.tensor([2.0, 1.0, 0.0], dtype=f64))  # falling: tau = tau^-
    torch.testing.assert_close(up[0], torch.tensor([0.0, 1.0], dtype=f64))
    torch.testing.assert_close(down[0], torch.tensor([1.0, 0.0], dtype=f64))
    # maximum with V_{i+1} = 0.5 > V_{i-1} = 0: tau^+ dV_max + tau^- dV_min, dV = 1, 0.5
    mixed = tangents(nodes, torch.tensor([0.0, 1.0, 0.5], dtype=f64))
    torch.testing.assert_close(mixed[0], torch.tensor([0.5, 1.0], dtype=f64) / 1.25 ** 0.5)
    plain = tangents(nodes, torch.tensor([0.0, 1.0, 2.0], dtype=f64), "plain")
    torch.testing.assert_close(plain[0], torch.tensor([1.0, 1.0], dtype=f64) / 2 ** 0.5)


def test_level_gives_connected():
    r = neb(MB.energy, A, B, level=-30.0, max_iter=300, progress=False)
    assert r.connected is True and r.level == -30.0
    r = neb(MB.energy, A, B, level=-60.0, max_iter=300, progress=False)
    assert r.connected is False and not r.success


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="improved"):
        neb(MB.energy, A, B, method="string")
    with pytest.raises(ValueError, match="fire"):
        neb(MB.energy, A, B, optimizer="lbfgs")
    with pytest.raises(ValueError, match="identical"):
        neb(MB.energy, A, A.clone())
    with pytest.raises(ValueError, match="n_images"):
        neb(MB.energy, A, B, n_images=0)
    with pytest.raises(ValueError, match="below the energy of endpoint b"):
        neb(MB.energy, A, B, level=-120.0)
    with pytest.raises(ValueError, match="spring"):
        neb(MB.energy, A, B, spring=-1.0)
    with pytest.raises(ValueError, match="init"):
        neb(MB.energy, A, B, init=Path(torch.stack([A, B + 1])))
    with pytest.raises(TypeError, match="differentiable"):
        neb(lambda th: MB.energy(th).detach(), A, B, progress=False)
    with pytest.raises(ValueError, match="K >= 3"):
        neb_forces(MB.energy, torch.stack([A, B]))
    assert METHODS == ("improved", "plain") and OPTIMIZERS == ("fire", "sgd", "adam")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_neb_finds_the_muller_brown_saddle_on_cuda():
    r = neb(MB.energy, A.cuda(), B.cuda(), progress=False)
    assert r.path.nodes.is_cuda and r.info["converged"]
    assert torch.linalg.vector_norm(r.info["saddle"].cpu() - SADDLE) < 1e-2


def test_improved_tangent_points_to_the_higher_neighbour_or_bisects_when_flat():
    nodes = torch.tensor([[0.0, 0.0], [1.0, 0.0], [1.0, 2.0]], dtype=torch.float64)
    up = tangents(nodes, torch.tensor([0.0, 1.0, 2.0], dtype=torch.float64))  # eq. 8: tau^+
    down = tangents(nodes, torch.tensor([2.0, 1.0, 0.0], dtype=torch.float64))  # tau^-
    flat = tangents(nodes, torch.zeros(3, dtype=torch.float64))  # bisector of the unit sides
    assert torch.allclose(up, torch.tensor([[0.0, 1.0]], dtype=torch.float64))
    assert torch.allclose(down, torch.tensor([[1.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(flat, torch.tensor([[1.0, 1.0]], dtype=torch.float64) / 2 ** 0.5)
    folded = torch.tensor([[0.0], [1.0], [0.0]], dtype=torch.float64)  # the band turns back
    assert torch.equal(tangents(folded, torch.zeros(3, dtype=torch.float64)), torch.zeros(1, 1, dtype=torch.float64))
