"""Level-set geodesics (lecture_lib.paths.geodesic) against grid geodesics and closed forms.

References: fast marching on a grid (:func:`lecture_lib.sublevel.grid_geodesic`), the
annulus ``E = (r - 1)^2`` whose shortest path around the inner disc is two tangent
segments and an arc, and the bowl, whose sublevel sets are convex (the geodesic is the
straight segment).
"""

import math

import pytest
import torch

from lecture_lib import sublevel, surfaces
from lecture_lib.paths import Path, geodesic, linear

MB = surfaces.get("muller_brown")
A, B = (torch.tensor(p, dtype=torch.float64) for p, _ in MB.minima[:2])
SADDLE = MB.saddles[0][1]


def annulus(theta):
    """``E = (r - 1)^2``: at level u the set is the ring ``1 - sqrt(u) <= r <= 1 + sqrt(u)``."""
    return (torch.sqrt((theta ** 2).sum(1) + 1e-30) - 1) ** 2


def around_the_disc(R, rho):
    """Shortest path between antipodal points at radius ``R`` avoiding the disc of radius ``rho``:
    two tangent segments ``sqrt(R^2 - rho^2)`` and the arc ``rho (pi - 2 arccos(rho / R))``."""
    return 2 * math.sqrt(R ** 2 - rho ** 2) + rho * (math.pi - 2 * math.acos(rho / R))


@pytest.fixture(scope="module")
def mb_grid():
    return sublevel.grid(MB.energy, MB.extent, 401)


@pytest.mark.parametrize("level", [-40.0, -30.0])
def test_muller_brown_geodesic_agrees_with_the_grid_geodesic(mb_grid, level):
    # Above the pass at -40.66 the set is one curved valley: the path from A to B must bend.
    r = geodesic(MB.energy, A, B, level, progress=False)
    ref = sublevel.grid_geodesic(mb_grid, level, A.numpy(), B.numpy())
    assert r.connected and r.success, r.message
    assert r.length == pytest.approx(ref, rel=0.03)
    assert r.normalized_length > 1.15  # curved, as the grid says (1.17 at -30, 1.29 at -40)
    assert r.length <= r.info["initial_length"]


def test_between_the_saddles_b_and_c_are_joined_straight_and_a_is_cut_off(mb_grid):
    C = torch.tensor(MB.minima[2][0], dtype=torch.float64)
    level = -60.0  # between the saddles at -72.25 (B-C) and -40.66 (A-rest)
    r = geodesic(MB.energy, B, C, level, n_nodes=9, progress=False)
    ref = sublevel.grid_geodesic(mb_grid, level, B.numpy(), C.numpy())
    assert r.connected and r.length == pytest.approx(ref, rel=0.03)
    assert r.normalized_length == pytest.approx(1.0, abs=1e-3)  # the pass lies on the line B-C
    assert sublevel.grid_geodesic(mb_grid, level, A.numpy(), B.numpy()) == math.inf  # A's own valley


def test_annulus_geodesic_is_tangents_plus_arc():
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    init = Path(torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    r = geodesic(annulus, a, -a, 0.25, init=init, progress=False)
    exact = around_the_disc(1.0, 1 - math.sqrt(0.25))  # 2.2556
    assert r.connected, r.message
    assert r.length == pytest.approx(exact, rel=5e-3)
    assert r.length >= exact * (1 - 1e-3)  # nothing shorter exists inside the ring
    g = sublevel.grid(annulus, (-1.6, 1.6, -1.6, 1.6), 321)
    assert r.length == pytest.approx(sublevel.grid_geodesic(g, 0.25, (-1.0, 0.0), (1.0, 0.0)), rel=0.03)


def test_bowl_geodesic_is_the_straight_segment():
    bowl = surfaces.get("bowl").energy
    bent = Path(torch.tensor([[-1.0, 0.0], [0.0, 0.5], [1.0, 0.0]], dtype=torch.float64))
    r = geodesic(bowl, bent.nodes[0], bent.nodes[-1], 1.5, init=bent, progress=False)
    assert r.connected
    assert r.normalized_length == pytest.approx(1.0, abs=1e-3)
    assert r.info["initial_length"] == pytest.approx(bent.length())


def test_accepts_a_path_result_as_init():
    from lecture_lib.paths import string_sampling

    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    found = string_sampling(annulus, a, -a, 0.25, method="constrained", progress=False)
    r = geodesic(annulus, a, -a, 0.25, init=found, progress=False)
    assert r.connected and r.info["initial_length"] == pytest.approx(found.length)
    assert r.length == pytest.approx(around_the_disc(1.0, 0.5), rel=5e-3)


def test_default_init_comes_from_string_sampling_and_same_seed_same_result():
    r1 = geodesic(MB.energy, A, B, -30.0, seed=1, n_nodes=17, progress=False)
    r2 = geodesic(MB.energy, A, B, -30.0, seed=1, n_nodes=17, progress=False)
    assert r1.connected and r1.path.n_nodes >= 17
    assert torch.equal(r1.path.nodes, r2.path.nodes)


def test_path_stays_inside_the_sublevel_set():
    r = geodesic(MB.energy, A, B, -40.0, progress=False)
    assert r.profile.converged and not r.certified and "is an estimate" in r.message
    assert r.max_energy <= -40.0 + 1e-3 * (-40.0 - MB.minima[0][1])
    assert torch.equal(r.path.nodes[0], A) and torch.equal(r.path.nodes[-1], B)


def test_disconnected_endpoints_are_reported_without_crash():
    r = geodesic(MB.energy, A, B, SADDLE - 1.0, progress=False)
    assert r.connected is False and r.success is False
    assert r.message.startswith("no geodesic")


def test_initial_path_leaving_the_set_is_reported():
    r = geodesic(MB.energy, A, B, -30.0, init=linear(A, B), progress=False)  # crosses E = 12.7
    assert r.connected is False and r.success is False
    assert "leaves the sublevel set" in r.message


def test_callers_tensors_and_path_unchanged():
    a, b = torch.tensor([-1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
    nodes = torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64)
    copies = a.clone(), b.clone(), nodes.clone()
    geodesic(annulus, a, b, 0.25, init=nodes, n_nodes=9, progress=False)
    assert all(torch.equal(x, y) for x, y in zip((a, b, nodes), copies))


def test_nodes_of_a_half_sweep_go_to_the_energy_in_one_batched_call():
    sizes = []

    def recorded(theta):
        sizes.append(theta.shape[0])
        return annulus(theta)

    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    init = Path(torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    r = geodesic(recorded, a, -a, 0.25, init=init, n_nodes=9, chord_points=8, steps=3, progress=False)
    assert r.path.n_nodes == 9  # interior nodes 1, 3, 5, 7 move together, then 2, 4, 6
    assert {4, 3} <= set(sizes)  # the candidates of each half sweep, for the Newton steps
    assert {4 * 2 * 8, 3 * 2 * 8} <= set(sizes)  # and all their chord samples at once


def test_bad_input_errors():
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    init = Path(torch.tensor([[-1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], dtype=torch.float64))
    with pytest.raises(ValueError, match="not the endpoint b"):
        geodesic(annulus, a, torch.tensor([0.0, 1.0], dtype=torch.float64), 0.25, init=init, progress=False)
    with pytest.raises(TypeError, match="init must be a Path"):
        geodesic(annulus, a, -a, 0.25, init=[[0.0, 1.0]], progress=False)
    with pytest.raises(ValueError, match="dimension"):
        geodesic(annulus, a, -a, 0.25, init=init.to(dtype=torch.float32), progress=False)
    with pytest.raises(ValueError, match="n_nodes"):
        geodesic(annulus, a, -a, 0.25, init=init, n_nodes=2, progress=False)
    with pytest.raises(ValueError, match="lr"):
        geodesic(annulus, a, -a, 0.25, init=init, lr=0.0, progress=False)
    with pytest.raises(ValueError, match="needs a level"):
        geodesic(annulus, a, -a, None, init=init, progress=False)
    with pytest.raises(ValueError, match="below the energy of endpoint"):
        geodesic(annulus, a * 1.5, -a, 0.1, init=init, progress=False)


def test_geodesic_in_float32_through_a_zero_gradient_is_straight():
    """The bowl from (-1, 0) to (1, 0) at level 1.5: the chord passes the minimum, where
    grad E = 0 (a floor of 1e-300 is 0 in float32 and the projection divided 0 by 0)."""
    bowl = surfaces.get("bowl").energy
    a, b = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 0.0])
    r = geodesic(bowl, a, b, 1.5, progress=False)
    assert r.connected and r.path.nodes.dtype == torch.float32
    assert torch.isfinite(r.path.nodes).all() and r.length == pytest.approx(2.0, rel=1e-4)


def test_geodesic_along_the_flat_plateau_shelf_is_straight():
    shelf = surfaces.get("plateau").energy  # E = 0 with grad E = 0 on [-1, 0) x {0}
    for dtype in (torch.float32, torch.float64):
        a, b = torch.tensor([-0.9, 0.0], dtype=dtype), torch.tensor([-0.1, 0.0], dtype=dtype)
        r = geodesic(shelf, a, b, 0.5, progress=False)
        assert r.connected and r.length == pytest.approx(0.8, rel=1e-4), r.message


def test_projection_at_a_zero_gradient_is_no_step_in_every_dtype():
    from lecture_lib.paths.geodesics import _project
    from lecture_lib.paths.validate import CountedEnergy

    for dtype in (torch.float32, torch.float64, torch.bfloat16):
        flat = CountedEnergy(lambda th: 0.0 * th.sum(1) + 1.0)  # E = 1 everywhere, grad 0
        c = torch.tensor([[0.5, -0.5], [1e-20, 0.0]], dtype=dtype)
        out = _project(flat, c, 0.0, 3)  # above the level, but nowhere to go
        assert torch.equal(out, c)
        tiny = CountedEnergy(lambda th: 1e-30 * (th ** 2).sum(1))  # |grad|^2 underflows in float32
        out = _project(tiny, torch.tensor([[1.0, 0.0]], dtype=dtype), 0.0, 1)
        assert torch.isfinite(out).all()


def test_geodesic_on_a_non_differentiable_energy_says_it_needs_gradients():
    no_grad = lambda th: (th.detach() ** 2).sum(1)  # noqa: E731
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    init = Path(torch.tensor([[-1.0, 0.0], [0.0, 0.5], [1.0, 0.0]], dtype=torch.float64))
    with pytest.raises(TypeError, match="geodesic .* needs gradients.*not differentiable"):
        geodesic(no_grad, a, -a, 1.5, init=init, progress=False)


def test_a_given_lipschitz_constant_makes_the_geodesic_certified():
    bowl = surfaces.get("bowl").energy  # |grad E| = 2 |theta| <= 2 * 1.5 near the chord
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    init = Path(torch.tensor([[-1.0, 0.0], [0.0, 0.5], [1.0, 0.0]], dtype=torch.float64))
    r = geodesic(bowl, a, -a, 1.5, init=init, progress=False, profile_kwargs={"lipschitz": 3.0})
    assert r.connected and r.certified and r.profile.certified and "is a bound" in r.message
    assert r.length == pytest.approx(2.0, rel=1e-4)


@pytest.mark.parametrize("option, value, problem", [
    ("n_nodes", 2.5, "n_nodes must be an integer >= 3, got 2.5"),
    ("steps", -1, "steps must be an integer >= 0, got -1"),
    ("lr", float("nan"), "lr must be a finite number in"),
    ("rtol", float("inf"), "rtol must be a finite number >= 0, got inf"),
    ("seed", -3, "seed must be an integer >= 0, got -3"),
    ("check_every", 0, "check_every must be an integer >= 1, got 0"),
])
def test_geodesic_options_are_validated_with_clear_errors(option, value, problem):
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    with pytest.raises(ValueError, match=problem):
        geodesic(annulus, a, -a, 0.25, progress=False, **{option: value})
    with pytest.raises(ValueError, match="level must be a finite number, got nan"):
        geodesic(annulus, a, -a, float("nan"), progress=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_muller_brown_geodesic_on_cuda(mb_grid):
    string_kwargs = {"method": "constrained"}  # robust to the device's random stream
    r = geodesic(MB.energy, A.cuda(), B.cuda(), -30.0, string_kwargs=string_kwargs, progress=False)
    ref = sublevel.grid_geodesic(mb_grid, -30.0, A.numpy(), B.numpy())
    assert r.connected and r.path.nodes.is_cuda
    assert r.length == pytest.approx(ref, rel=0.03)
