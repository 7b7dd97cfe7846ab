"""Issue 9's items in the path algorithms: scale-free NEB, float32 overflow, clear errors for
bad options, dtype-aware floors, energies without gradients, and issue 8's energy_floor."""

import math

import pytest
import torch

from lecture_lib import surfaces
from lecture_lib.paths import CountedEnergy, bezier, neb, string_sampling
from lecture_lib.paths.validate import level_scale

MB = surfaces.get("muller_brown")
A, B = (torch.tensor(p, dtype=torch.float64) for p, _ in MB.minima[:2])
SADDLE_E = MB.saddles[0][1]  # -40.66


def scaled(c):
    return lambda theta: c * MB.energy(theta)


@pytest.fixture(scope="module")
def reference():
    return neb(MB.energy, A, B, progress=False)


@pytest.mark.parametrize("c", [1e-10, 1e-8, 1e6])
def test_neb_is_scale_free_same_band_and_saddle_for_any_energy_unit(c, reference):
    r = neb(scaled(c), A, B, progress=False)
    assert r.info["iterations"] > 1 and r.success, r.message
    assert r.info["iterations"] == reference.info["iterations"]
    assert r.info["saddle_energy"] / c == pytest.approx(SADDLE_E, abs=0.01)
    assert torch.allclose(r.path.nodes, reference.path.nodes, atol=1e-6)
    assert r.normalized_length > 1.2  # not the straight band


def test_neb_in_float32_with_energies_of_order_1e30_does_not_overflow():
    a, b = A.float(), B.float()
    r = neb(scaled(1e30), a, b, progress=False)
    assert math.isfinite(r.info["max_force"]) and r.info["converged"], r.message
    assert r.info["saddle_energy"] / 1e30 == pytest.approx(SADDLE_E, abs=0.05)


def test_neb_messages_mention_the_level_and_never_claim_disconnection():
    above = neb(MB.energy, A, B, level=SADDLE_E + 1, progress=False)
    below = neb(MB.energy, A, B, level=SADDLE_E - 1, progress=False)
    assert above.success and f"below the level {SADDLE_E + 1:.6g}" in above.message
    assert not below.success and below.connected is False
    assert "no path found" in below.message and "not connected" not in below.message


def test_string_sampling_accepts_seed_none_like_neb_and_bezier():
    r = string_sampling(MB.energy, A, B, SADDLE_E + 1, seed=None, progress=False)
    assert r.connected, r.message
    neb(MB.energy, A, B, seed=None, jitter=0.1, max_iter=5, progress=False)
    bezier(MB.energy, A, B, seed=None, steps=2, progress=False)


@pytest.mark.parametrize("kw,name", [({"lr": math.inf}, "lr"), ({"noise": math.inf}, "noise"),
                                     ({"max_steps": 2.5}, "max_steps"), ({"max_depth": -1}, "max_depth"),
                                     ({"patience": 0}, "patience"), ({"seed": -3}, "seed"),
                                     ({"energy_floor": math.nan}, "energy_floor"),
                                     ({"fraction": 0.0}, "fraction"), ({"accept_tol": -1}, "accept_tol")])
def test_string_sampling_rejects_bad_options_naming_the_argument(kw, name):
    with pytest.raises(ValueError, match=name):
        string_sampling(MB.energy, A, B, SADDLE_E + 1, progress=False, **kw)


@pytest.mark.parametrize("kw,name", [({"jitter": math.nan}, "jitter"), ({"autoneb_tol": -1}, "autoneb_tol"),
                                     ({"max_iter": 2.5}, "max_iter"), ({"lr": math.inf}, "lr"),
                                     ({"n_images": 0}, "n_images"), ({"seed": 1.5}, "seed")])
def test_neb_rejects_bad_options_naming_the_argument(kw, name):
    with pytest.raises(ValueError, match=name):
        neb(MB.energy, A, B, progress=False, **kw)


@pytest.mark.parametrize("kw,name", [({"lr": math.inf}, "lr"), ({"steps": 2.5}, "steps"),
                                     ({"n_t": 0}, "n_t"), ({"seed": -1}, "seed")])
def test_bezier_rejects_bad_options_naming_the_argument(kw, name):
    with pytest.raises(ValueError, match=name):
        bezier(MB.energy, A, B, progress=False, **kw)


def test_zero_gradient_at_a_bead_in_float32_stalls_honestly_instead_of_dividing_0_by_0():
    # exp(-|x|^2) has an exactly zero gradient at the midpoint 0: the normalized step g / |g|
    # needs a float32 floor (1e-300 is 0 in float32 and gave 0 / 0 = nan)
    bump = lambda th: torch.exp(-(th ** 2).sum(1))
    a = torch.tensor([-2.0, 0.0])
    for optimizer in ("normalized", "adam"):
        r = string_sampling(bump, a, -a, 0.5, bead="midpoint", optimizer=optimizer, noise=0.0,
                            max_steps=300, progress=False)
        assert r.connected is False and r.info["beads"][0]["stopped"] == "stalled"
        assert r.message.startswith("no path found") and "stalled" in r.message


def test_value_and_grad_says_which_algorithm_needs_gradients():
    E = CountedEnergy(lambda th: MB.energy(th).detach())
    with pytest.raises(TypeError, match="geodesic needs gradients.*not differentiable"):
        E.value_and_grad(A[None], needed_by="geodesic")
    values, grads = E.value_and_grad(A[None], needed_by=None)
    assert grads is None and values.shape == (1,)
    constant = CountedEnergy(lambda th: torch.ones(th.shape[0], requires_grad=True) * 2)
    with pytest.raises(TypeError, match="do not depend on theta"):
        constant.value_and_grad(A[None])
    for run in (lambda e: neb(e, A, B, progress=False), lambda e: string_sampling(e, A, B, SADDLE_E + 1, progress=False)):
        with pytest.raises(TypeError, match="needs gradients"):
            run(lambda th: MB.energy(th).detach())


def test_level_scale_means_something_when_both_ends_sit_just_under_the_level():
    # Freeman & Bruna's protocol: endpoints trained to just under the level
    assert level_scale(0.05, 0.0475, 0.0475) == 0.05  # floor 0: beads train to 0.95 of the level
    assert level_scale(0.05, 0.0475, 0.049, None) == pytest.approx(0.0025)
    # negative energies: a floor above an endpoint is no lower bound, the endpoints take over
    assert level_scale(SADDLE_E + 1, -146.7, -108.2) == pytest.approx(SADDLE_E + 1 + 146.7)
    assert level_scale(1.0, 1.0, 1.0, 1.0) == 1.0  # all equal: a unit scale, not 0


def test_string_sampling_target_is_a_fraction_of_the_level_for_nonnegative_losses():
    bump = lambda th: torch.exp(-(th ** 2).sum(1))
    a = torch.tensor([-2.0, 0.0], dtype=torch.float64)
    r = string_sampling(bump, a, -a, 0.5, progress=False)
    assert r.connected, r.message
    assert r.info["scale"] == 0.5 and r.info["target"] == pytest.approx(0.475)
    r2 = string_sampling(bump, a, -a, 0.5, energy_floor=None, progress=False)
    assert r2.info["scale"] == pytest.approx(0.5 - math.exp(-4))
