"""Dynamic string sampling (lecture_lib.paths.string_sampling) against known answers.

Mueller-Brown: every path from minimum A to minimum B crosses the saddle at E = -40.66, so
at a level 1 above it the beads must find the pass and at a level 1 below it no path exists.
The tilted double well has one saddle on the axis; the bowl is convex; on the annulus
``E = (r - 1)^2`` the constrained bead has a closed form.
"""

import math

import pytest
import torch
import torch.nn.functional as F

from lecture_lib import surfaces
from lecture_lib.paths import linear, profile, string_sampling
from lecture_lib.paths.strings import BEADS, METHODS, OPTIMIZERS

MB = surfaces.get("muller_brown")
A, B = (torch.tensor(p, dtype=torch.float64) for p, _ in MB.minima[:2])
SADDLE = MB.saddles[0][1]  # -40.66, the pass between A and the rest
VARIANTS = [("greedy", "midpoint"), ("greedy", "argmax"), ("constrained", "midpoint")]


def annulus(theta):
    """``E = (r - 1)^2``: the sublevel set at u < 1 is a ring around an obstacle at the origin."""
    return (torch.sqrt((theta ** 2).sum(1) + 1e-30) - 1) ** 2


@pytest.mark.parametrize("method,bead", VARIANTS)
def test_connects_muller_brown_just_above_the_saddle(method, bead):
    level = SADDLE + 1.0
    # greedy beads from the midpoint need the monotone normalized steps here: Adam beads stop
    # just under the target on the flank of the ridge and one segment still crosses it after
    # 10 rounds (the default bead, the argmax, is fine with Adam)
    opt = {"optimizer": "normalized"} if bead == "midpoint" and method == "greedy" else {}
    r = string_sampling(MB.energy, A, B, level, method=method, bead=bead, progress=False, **opt)
    assert r.connected and r.success, r.message
    assert r.profile.converged and r.certified is False  # an estimated maximum is no certificate
    assert "estimate" in r.message
    # every path from A to B crosses the pass: its certified max is at least the saddle's
    assert SADDLE - r.profile.tol <= r.max_energy <= r.info["accept_level"]
    assert torch.equal(r.path.nodes[0], A) and torch.equal(r.path.nodes[-1], B)
    assert r.path.n_nodes == r.info["n_beads"] + 2 > 2
    assert r.normalized_length > 1.2  # the pass lies far off the straight line A-B
    assert r.n_evaluations > r.profile.n_evaluations


@pytest.mark.parametrize("method,bead", VARIANTS)
def test_reports_no_connection_just_below_the_saddle(method, bead):
    level = SADDLE - 1.0
    r = string_sampling(MB.energy, A, B, level, method=method, bead=bead, progress=False)
    assert r.connected is False and r.success is False
    assert r.max_energy > level
    assert r.info["failures"], "a failed run names the segments that failed"
    assert r.message.startswith("no path found") and "segment" in r.message
    assert "not connected" not in r.message  # a search that gives up proves nothing


@pytest.mark.parametrize("method", METHODS)
def test_two_well_connects_above_the_saddle_and_not_below(method):
    s = surfaces.get("tilted_double_well")
    (p, _), (q, _) = s.minima
    p, q = torch.tensor(p, dtype=torch.float64), torch.tensor(q, dtype=torch.float64)
    saddle = s.saddles[0][1]
    above = string_sampling(s.energy, p, q, saddle + 0.05, method=method, max_depth=4, progress=False)
    below = string_sampling(s.energy, p, q, saddle - 0.05, method=method, max_depth=4, progress=False)
    assert above.connected and abs(above.max_energy - saddle) < 1e-3  # the axis is the pass
    assert below.connected is False and below.max_energy >= saddle - 0.05


@pytest.mark.parametrize("method", METHODS)
def test_bowl_path_is_straight(method):
    bowl = surfaces.get("bowl").energy
    a, b = torch.tensor([-1.0, 0.5], dtype=torch.float64), torch.tensor([1.0, -0.5], dtype=torch.float64)
    r = string_sampling(bowl, a, b, 1.5, method=method, progress=False)
    assert r.connected and r.path.n_nodes == 2
    assert r.normalized_length == pytest.approx(1.0, abs=1e-12)


def test_constrained_bead_is_the_nearest_feasible_point_on_the_hyperplane():
    # a = (-1, 0), b = (1, 0): H is the line x = 0 through the midpoint 0, where E = 1, and
    # the nearest point of H with (r - 1)^2 <= target is at |y| = 1 - sqrt(target).
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    r = string_sampling(annulus, a, -a, 0.25, method="constrained", max_depth=1, progress=False)
    bead, info = r.path.nodes[1], r.info["beads"][0]
    expected = 1 - math.sqrt(r.info["target"])
    assert abs(float(bead[0])) < 1e-9  # on H
    assert abs(float(bead[1])) == pytest.approx(expected, abs=1e-4)
    assert info["distance"] == pytest.approx(expected, abs=1e-4)
    assert info["kkt_cosine"] > 0.999


def test_greedy_bead_slides_freely_off_the_hyperplane():
    # Trained without constraint from the (perturbed) midpoint, the bead leaves x = 0.
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    r = string_sampling(annulus, a, -a, 0.25, method="greedy", max_depth=1, noise=0.3, progress=False)
    assert r.info["beads"][0]["inserted"]
    assert annulus(r.path.nodes[1:2])[0] <= r.info["target"]
    assert abs(float(r.path.nodes[1, 0])) > 1e-3


def test_beads_of_one_round_train_in_one_batched_call():
    sizes = []

    def recorded(theta):
        sizes.append(theta.shape[0])
        return annulus(theta)

    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    r = string_sampling(recorded, a, -a, 0.25, method="constrained", max_depth=2, progress=False)
    assert r.info["history"][1]["n_rejected"] == 2  # both halves around the first bead cross the obstacle
    assert 2 in sizes[1:]  # and their two beads went to the energy together (call 0: the ends)


def test_same_seed_same_result():
    kw = dict(method="greedy", bead="midpoint", progress=False)
    r1 = string_sampling(MB.energy, A, B, SADDLE + 1.0, seed=3, **kw)
    r2 = string_sampling(MB.energy, A, B, SADDLE + 1.0, seed=3, **kw)
    assert torch.equal(r1.path.nodes, r2.path.nodes)
    assert r1.n_evaluations == r2.n_evaluations


def test_callers_tensors_unchanged():
    a, b = A.clone(), B.clone()
    string_sampling(MB.energy, a, b, SADDLE + 1.0, method="constrained", progress=False)
    assert torch.equal(a, A) and torch.equal(b, B)


def test_a_path_accepted_within_the_tolerance_says_it_is_not_strictly_below():
    bump = lambda t: 1.0005 * torch.exp(-(t ** 2).sum(1))  # peak 5e-4 above the level 1
    a, b = torch.tensor([-3.0, 0.0]), torch.tensor([3.0, 0.0])
    r = string_sampling(bump, a, b, 1.0)  # accept_tol 1e-3 of the scale 1
    assert r.connected and r.max_energy > 1.0 and r.path.n_nodes == 2
    assert "within accept_tol (not strictly below it" in r.message and "below level" not in r.message
    assert "path found below level 1" in string_sampling(bump, a, b, 1.001).message


def test_level_below_an_endpoint_energy_raises():
    with pytest.raises(ValueError, match="below the energy of endpoint b"):
        string_sampling(MB.energy, A, B, MB.minima[1][1] - 1.0, progress=False)
    with pytest.raises(ValueError, match="needs a level"):
        string_sampling(MB.energy, A, B, None, progress=False)


def test_bad_options_raise_listing_the_choices():
    with pytest.raises(ValueError, match="greedy"):
        string_sampling(MB.energy, A, B, 0.0, method="bisect", progress=False)
    with pytest.raises(ValueError, match="midpoint"):
        string_sampling(MB.energy, A, B, 0.0, bead="random", progress=False)
    with pytest.raises(ValueError, match="normalized"):
        string_sampling(MB.energy, A, B, 0.0, optimizer="lbfgs", progress=False)
    with pytest.raises(ValueError, match="greedy.* only"):
        string_sampling(MB.energy, A, B, 0.0, method="constrained", bead="argmax", progress=False)
    with pytest.raises(ValueError, match="fraction"):
        string_sampling(MB.energy, A, B, 0.0, fraction=1.5, progress=False)
    with pytest.raises(ValueError, match="identical"):
        string_sampling(MB.energy, A, A, 0.0, progress=False)
    assert set(METHODS) == {"greedy", "constrained"} and "argmax" in BEADS and "adam" in OPTIMIZERS


def test_non_differentiable_energy_raises_when_a_bead_must_train():
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    with pytest.raises(TypeError, match="differentiable"):
        string_sampling(lambda th: annulus(th).detach(), a, -a, 0.25, progress=False)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_other_optimizers_connect_the_annulus(optimizer):
    a = torch.tensor([-1.0, 0.0], dtype=torch.float64)
    r = string_sampling(annulus, a, -a, 0.25, optimizer=optimizer, lr=0.05, progress=False)
    assert r.connected, r.message


def test_works_on_a_two_layer_network_energy():
    from lecture_lib.energy import model_energy
    from lecture_lib.models import TwoLayer

    torch.manual_seed(0)
    X = torch.randn(32, 2, dtype=torch.float64)
    with torch.no_grad():
        Y = TwoLayer(2, 3, 1).double()(X)
    net = TwoLayer(2, 12, 1).double()
    before = [p.detach().clone() for p in net.parameters()]
    E = model_energy(net, F.mse_loss, X, Y)
    g = torch.Generator().manual_seed(1)
    theta = 0.5 * torch.randn(2, E.dim, generator=g, dtype=torch.float64)  # two starts, (2, d)
    for _ in range(100):  # full-batch gradient descent of both at once, one batched call a step
        theta = theta.requires_grad_(True)
        (grad,) = torch.autograd.grad(E(theta).sum(), theta)
        theta = (theta - 0.2 * grad).detach()
    a, b = theta
    e_max = max(float(E(a[None])), float(E(b[None])))
    straight = profile(E, linear(a, b)).max_energy
    assert straight > e_max  # the straight line has a barrier
    level = e_max + 0.25 * (straight - e_max)  # so the straight line is not accepted
    for method in METHODS:
        r = string_sampling(E, a, b, level, method=method, progress=False)
        assert r.connected and r.info["n_beads"] >= 1, r.message
        assert r.profile.max_energy <= level + 1e-3 * (level - min(float(E(a[None])), float(E(b[None]))))
    assert all(torch.equal(p, q) for p, q in zip(before, net.parameters()))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("method,bead", [("greedy", "argmax"), ("constrained", "midpoint")])
def test_connects_muller_brown_on_cuda(method, bead):
    a, b = A.cuda(), B.cuda()
    above = string_sampling(MB.energy, a, b, SADDLE + 1.0, method=method, bead=bead, progress=False)
    below = string_sampling(MB.energy, a, b, SADDLE - 1.0, method=method, bead=bead, progress=False)
    assert above.connected and above.path.nodes.is_cuda, above.message
    assert below.connected is False
