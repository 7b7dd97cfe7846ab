import pytest
import torch

from lecture_lib import surfaces
from lecture_lib.paths import bezier, linear, profile
from lecture_lib.paths.curves import KINDS, OPTIMIZERS, curve_points

f64 = torch.float64
MB = surfaces.get("muller_brown")
A, B = (torch.tensor(p, dtype=f64) for p, _ in MB.minima[:2])
BOWL = surfaces.get("bowl").energy
BA, BB = torch.tensor([-1.0, -0.5], dtype=f64), torch.tensor([1.0, 0.5], dtype=f64)


@pytest.mark.parametrize("kind", KINDS)
def test_trained_curve_avoids_the_barrier_the_straight_line_crosses(kind):
    line = profile(MB.energy, linear(A, B)).max_energy  # about 12.7: over the hill
    r = bezier(MB.energy, A, B, kind=kind, seed=0, progress=False)
    assert line > 10
    assert r.max_energy < line - 12, (line, r.max_energy)
    assert r.profile.converged and r.certified is False  # estimated, not a bound
    first, last = r.info["loss_history"][:30].mean(), r.info["loss_history"][-30:].mean()
    assert last < first - 20  # the mean energy along the curve went down a lot


@pytest.mark.parametrize("kind", KINDS)
def test_control_point_goes_to_the_midpoint_on_the_bowl(kind):
    # With a = -b the cross term of E(phi(t)) integrates to 0, so theta* = 0 = (a + b) / 2.
    r = bezier(BOWL, BA, BB, kind=kind, init=torch.tensor([0.0, 1.0], dtype=f64), seed=0, progress=False)
    assert torch.linalg.vector_norm(r.info["control"]) < 1e-2
    assert abs(r.normalized_length - 1) < 1e-3
    assert r.path.n_nodes == 65


def test_same_seed_gives_the_same_curve():
    kw = dict(steps=40, progress=False)
    r1, r2, r3 = (bezier(MB.energy, A, B, seed=s, **kw) for s in (1, 1, 2))
    assert torch.equal(r1.info["control"], r2.info["control"]) and torch.equal(r1.path.nodes, r2.path.nodes)
    assert not torch.equal(r1.info["control"], r3.info["control"])


def test_curve_points_pass_through_the_ends_and_the_bend():
    a, b, th = torch.tensor([0.0, 0.0]), torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    t = torch.tensor([0.0, 0.25, 0.5, 1.0])
    pts, w = curve_points("bezier", a, b, th, t)
    torch.testing.assert_close(pts[[0, -1]], torch.stack([a, b]))
    torch.testing.assert_close(pts[1], 0.5625 * a + 0.375 * th + 0.0625 * b)
    torch.testing.assert_close(w, 2 * t * (1 - t))
    pts, w = curve_points("polychain", a, b, th, t)
    torch.testing.assert_close(pts, torch.tensor([[0.0, 0.0], [0.5, 0.5], [1.0, 1.0], [2.0, 0.0]]))
    torch.testing.assert_close(w, torch.tensor([0.0, 0.5, 1.0, 0.0]))


@pytest.mark.parametrize("kind", KINDS)
def test_chain_rule_gradient_equals_autograd(kind):
    th = torch.tensor([-0.3, 1.1], dtype=f64, requires_grad=True)
    t = torch.rand(9, dtype=f64, generator=torch.Generator().manual_seed(0))
    pts, w = curve_points(kind, A, B, th, t)
    (auto,) = torch.autograd.grad(MB.energy(pts).mean(), th)
    x = pts.detach().requires_grad_(True)
    (g,) = torch.autograd.grad(MB.energy(x).sum(), x)
    torch.testing.assert_close((w.detach()[:, None] * g).mean(0), auto)


def test_evaluation_count_and_callers_tensors_unchanged():
    a, b, init = A.clone(), B.clone(), torch.tensor([0.0, 1.0], dtype=f64)
    init0 = init.clone()
    r = bezier(MB.energy, a, b, init=init, steps=25, n_t=8, seed=0, progress=False)
    assert torch.equal(a, A) and torch.equal(b, B) and torch.equal(init, init0)
    assert r.n_evaluations == 2 + 25 * 8 + r.profile.n_evaluations
    assert torch.equal(r.path.nodes[0], A) and torch.equal(r.path.nodes[-1], B)
    assert r.info["kind"] == "bezier" and r.info["loss_history"].shape == (25,)


def test_level_gives_connected():
    r = bezier(MB.energy, A, B, kind="polychain", seed=0, level=10.0, progress=False)
    assert r.connected is True and r.success
    r = bezier(MB.energy, A, B, kind="polychain", seed=0, level=-60.0, progress=False)
    assert r.connected is False and not r.success


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="bezier"):
        bezier(MB.energy, A, B, kind="spline")
    with pytest.raises(ValueError, match="adam"):
        bezier(MB.energy, A, B, optimizer="fire")
    with pytest.raises(ValueError, match="identical"):
        bezier(MB.energy, A, A.clone())
    with pytest.raises(ValueError, match="steps"):
        bezier(MB.energy, A, B, steps=0)
    with pytest.raises(ValueError, match="init has shape"):
        bezier(MB.energy, A, B, init=torch.zeros(3, dtype=f64))
    with pytest.raises(ValueError, match="lr"):
        bezier(MB.energy, A, B, lr=-1.0)
    with pytest.raises(TypeError, match="differentiable"):
        bezier(lambda th: MB.energy(th).detach(), A, B, progress=False)
    assert KINDS == ("bezier", "polychain") and OPTIMIZERS == ("adam", "sgd")


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_bezier_runs_on_cuda():
    r = bezier(MB.energy, A.cuda(), B.cuda(), seed=0, progress=False)
    assert r.path.nodes.is_cuda and r.info["control"].is_cuda
    assert r.max_energy < 0
