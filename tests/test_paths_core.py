"""Known answers for the paths core: Path, linear, profile, barrier, make_result, validate."""

import math
import os
import pickle

import numpy as np
import pytest
import torch

from lecture_lib import surfaces
from lecture_lib.paths import BARRIER_KINDS, CountedEnergy, Path, barrier, linear, make_result, profile
from lecture_lib.paths.validate import check_level, energy_scale

f64 = torch.float64
BOWL = surfaces.get("bowl").energy


def bump(width, height=3.0, x0=0.3):
    """``height exp(-((x - x0) / width)^2) + y^2``; along the x axis its maximum is ``height``."""
    def energy(theta):
        return height * torch.exp(-((theta[:, 0] - x0) / width) ** 2) + theta[:, 1] ** 2
    return energy


def lipschitz_of_bump(width, height=3.0):
    return height * math.sqrt(2 / math.e) / width  # max |d/dx h exp(-(x/w)^2)|


# --- Path ---------------------------------------------------------------------------------

def test_straight_path_has_normalized_length_one():
    p = linear(torch.tensor([-1.0, -0.5], dtype=f64), torch.tensor([1.0, 0.5], dtype=f64), 17)
    assert p.n_nodes == 17 and p.dim == 2
    assert abs(p.normalized_length() - 1) < 1e-12
    assert abs(p.length() - math.sqrt(5)) < 1e-12
    torch.testing.assert_close(p.arc(), torch.linspace(0, 1, 17, dtype=f64))


def test_path_with_a_corner_has_known_length_arc_and_points():
    p = Path(torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]], dtype=f64))
    torch.testing.assert_close(p.segment_lengths(), torch.tensor([3.0, 4.0], dtype=f64))
    assert p.length() == 7.0 and p.end_to_end() == 5.0 and p.normalized_length() == 1.4
    torch.testing.assert_close(p.arc(), torch.tensor([0.0, 3 / 7, 1.0], dtype=f64))
    pts = p.at(torch.tensor([0.0, 1 / 7, 3 / 7, 5 / 7, 1.0], dtype=f64))
    torch.testing.assert_close(pts, torch.tensor([[0, 0], [1, 0], [3, 0], [3, 2], [3, 4]], dtype=f64))


def test_closed_loop_has_infinite_normalized_length():
    p = Path(torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 0.0]]))
    assert p.normalized_length() == math.inf


def test_resample_spaces_nodes_equally_along_the_path():
    uneven = Path(torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.15, 0.0], [2.0, 0.0]], dtype=f64))
    r = uneven.resample(9)
    torch.testing.assert_close(r.segment_lengths(), torch.full((8,), 0.25, dtype=f64))
    corner = Path(torch.tensor([[0.0, 0.0], [3.0, 0.0], [3.0, 4.0]], dtype=f64))
    r = corner.resample(8)  # arc positions 0, 1, ..., 7 along the corner path
    torch.testing.assert_close(r.nodes, corner.at(torch.linspace(0, 1, 8, dtype=f64)))
    torch.testing.assert_close(r.nodes[3], torch.tensor([3.0, 0.0], dtype=f64))  # the corner itself
    assert r.nodes[0].equal(corner.nodes[0]) and r.nodes[-1].equal(corner.nodes[-1])


def test_path_copies_its_nodes_and_is_frozen():
    nodes = torch.tensor([[0.0, 0.0], [1.0, 1.0]])
    p = Path(nodes)
    nodes[0, 0] = 5.0
    assert p.nodes[0, 0] == 0.0
    with pytest.raises(AttributeError):
        p.nodes = nodes


def test_save_load_round_trip_keeps_values_and_dtype(tmp_path):
    for dtype in (torch.float32, f64):
        p = Path(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)).to(dtype))
        f = tmp_path / f"path_{dtype}.npz"
        p.save(f)
        q = Path.load(f)
        assert q.nodes.dtype == dtype and torch.equal(q.nodes, p.nodes)
    assert sorted(os.listdir(tmp_path)) == ["path_torch.float32.npz", "path_torch.float64.npz"]  # no temp files


def test_save_is_atomic_when_writing_fails(tmp_path, monkeypatch):
    f = tmp_path / "band.npz"
    old = Path(torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=f64))
    old.save(f)

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken)
    with pytest.raises(OSError, match="disk full"):
        Path(torch.zeros(3, 2, dtype=f64)).save(f)
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["band.npz"]  # the temporary file is gone
    assert torch.equal(Path.load(f).nodes, old.nodes)  # the old file is intact


class _Exploit:
    marker = None

    def __reduce__(self):
        return (open, (self.marker, "w"))  # creates a file when unpickled


def test_load_refuses_pickled_data(tmp_path):
    _Exploit.marker = str(tmp_path / "pwned")
    crafted = tmp_path / "crafted.npz"
    with open(crafted, "wb") as fh:
        pickle.dump({"nodes": _Exploit()}, fh)
    with pytest.raises(ValueError, match="pickle"):
        Path.load(crafted)
    obj = tmp_path / "object.npz"
    np.savez(obj, nodes=np.array([_Exploit()], dtype=object))
    with pytest.raises(ValueError, match="pickle"):
        Path.load(obj)
    assert not os.path.exists(_Exploit.marker)
    other = tmp_path / "other.npz"
    np.savez(other, points=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="no 'nodes'"):
        Path.load(other)


def test_path_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="K >= 2"):
        Path(torch.zeros(1, 2))
    with pytest.raises(TypeError, match="floating"):
        Path(torch.zeros(3, 2, dtype=torch.int64))
    with pytest.raises(ValueError, match="non-finite"):
        Path(torch.tensor([[0.0, 0.0], [float("nan"), 1.0]]))
    with pytest.raises(TypeError, match="torch.Tensor"):
        Path([[0.0, 0.0], [1.0, 1.0]])
    p = Path(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        p.at(torch.tensor([1.5]))
    with pytest.raises(ValueError, match="n_points must be an integer >= 2, got 1"):
        p.resample(1)
    a = torch.tensor([0.0, 0.0])
    with pytest.raises(ValueError, match="identical"):
        linear(a, a.clone())
    with pytest.raises(ValueError, match="different shapes"):
        linear(a, torch.zeros(3))
    with pytest.raises(ValueError, match="different dtypes"):
        linear(a, torch.ones(2, dtype=f64))
    with pytest.raises(ValueError, match="n_points must be an integer >= 2, got 1"):
        linear(a, torch.ones(2), 1)


# --- profile and barrier ------------------------------------------------------------------

def test_profile_finds_a_narrow_barrier_but_only_estimates_its_maximum():
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64)
    path = linear(a, b)
    E = bump(0.02, x0=0.28125)  # midway between two of the 33 starting samples
    grid = E(path.at(torch.linspace(0, 1, 33, dtype=f64)))
    assert grid.max() < 0.3  # the 33-point grid misses the top (3) by far
    p = profile(E, path)
    assert p.converged and not p.certified and not p.lipschitz_given, p.message
    assert "estimate" in p.message and "certified to" not in p.message
    assert abs(p.max_energy - 3.0) <= p.tol and p.bound >= 3.0 - 1e-12
    assert abs(p.t_max - 0.640625) < 1e-3 and abs(float(p.theta_max[0]) - 0.28125) < 2e-3


def test_a_given_lipschitz_constant_certifies_the_maximum_of_a_narrow_barrier():
    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    L = lipschitz_of_bump(0.005)
    q = profile(bump(0.005, x0=0.28125), path, lipschitz=L, atol=1e-3)
    assert q.certified and q.converged and q.lipschitz_given and q.lipschitz == L, q.message
    assert 3.0 - 1e-3 <= q.max_energy <= 3.0 and 3.0 <= q.bound <= q.max_energy + 1e-3
    assert q.message.startswith("maximum certified to within 0.001")


def test_a_wall_between_the_samples_is_never_certified_with_an_estimated_constant():
    """A wall of height 10 and width 1e-3 between the initial samples: the estimate misses it
    and says so; a given (true) Lipschitz constant finds it and certifies the maximum."""
    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    wall = bump(1e-3, height=10.0, x0=0.28125)  # on the x axis: E = 10 exp(-((x - x0)/w)^2)
    p = profile(wall, path)
    assert p.max_energy < 1.0, "the samples fall beside the wall"  # why this test exists
    assert not p.certified and "estimate" in p.message and "certified to" not in p.message
    r = make_result(wall, path, level=1.0)
    assert r.connected is True and r.certified is False  # connected by the samples, not proven
    L = lipschitz_of_bump(1e-3, height=10.0)
    q = profile(wall, path, lipschitz=L, atol=1e-2, max_evaluations=20_000)
    assert q.certified and abs(q.max_energy - 10.0) <= 1e-2, q.message
    s = make_result(wall, path, level=1.0, profile_kwargs=dict(lipschitz=L, atol=1e-2,
                                                               max_evaluations=20_000))
    assert s.connected is False and s.certified is True


def test_a_spent_budget_is_neither_converged_nor_certified():
    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    L = lipschitz_of_bump(1e-3, height=10.0)
    p = profile(bump(1e-3, height=10.0, x0=0.28125), path, lipschitz=L, atol=1e-3, max_evaluations=200)
    assert not p.converged and not p.certified and p.n_evaluations <= 200
    assert "max_evaluations=200 spent" in p.message and "(a bound)" in p.message
    assert p.bound >= 10.0  # the bound still holds: the wall is under it


@pytest.mark.parametrize("option, value, problem", [
    ("lipschitz", -1.0, "lipschitz must be a finite number >= 0, got -1.0"),
    ("lipschitz", float("nan"), "lipschitz must be a finite number >= 0, got nan"),
    ("safety", 0.0, "safety must be a finite number >= 1, got 0.0"),
    ("batch_size", 0, "batch_size must be an integer >= 1, got 0"),
    ("rtol", -1.0, "rtol must be a finite number >= 0, got -1.0"),
    ("atol", float("inf"), "atol must be a finite number >= 0, got inf"),
    ("n_points", 1, "n_points must be an integer >= 2, got 1"),
    ("max_evaluations", 2.5, "max_evaluations must be an integer >= 1, got 2.5"),
])
def test_profile_options_are_validated_with_clear_errors(option, value, problem):
    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    with pytest.raises(ValueError, match=problem):
        profile(BOWL, path, **{option: value})


def test_profile_accepts_numpy_and_tensor_scalars_for_its_options():
    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    p = profile(BOWL, path, n_points=np.int64(9), lipschitz=torch.tensor(2.0), batch_size=np.int32(4))
    assert p.certified and p.lipschitz == 2.0 and abs(p.max_energy - 1.0) < 1e-12


def test_profile_of_the_bowl_along_a_chord_is_exact():
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([2.0, 0.0], dtype=f64)
    p = profile(BOWL, linear(a, b), lipschitz=4.0)  # |grad| = 2 |theta| <= 4 on the chord
    assert p.max_energy == 4.0 and p.t_max == 1.0 and p.certified
    torch.testing.assert_close(p.energies, ((1 - p.t) * -1 + p.t * 2) ** 2)
    assert barrier(p, "mean") == 4.0 - 2.5
    assert abs(barrier(p, "linear")) < 1e-12  # convex: never above the chord


def test_barrier_definitions_on_known_energies():
    e = torch.tensor([0.0, 2.0, 4.0, 1.0])
    assert barrier(e, "mean") == 3.5  # 4 - (0 + 1) / 2
    assert abs(barrier(e, "linear") - 10 / 3) < 1e-6  # 4 - 2/3 at t = 2/3
    neg = torch.tensor([-10.0, -5.0, -8.0])  # negative energies: differences, never ratios
    assert barrier(neg, "mean") == 4.0 and barrier(neg, "linear") == 4.0
    t = torch.tensor([0.0, 0.25, 1.0])
    assert barrier(torch.tensor([0.0, 1.0, 4.0]), "linear", t=t) == 0.0  # 1 - 0.25 * 4
    assert BARRIER_KINDS == ("mean", "linear")
    with pytest.raises(ValueError, match="unknown barrier kind 'max'; choose one of 'mean', 'linear'"):
        barrier(e, "max")
    with pytest.raises(ValueError, match="two or more"):
        barrier(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="shape"):
        barrier(e, "linear", t=torch.tensor([0.0, 1.0]))


def test_profile_counts_its_evaluations():
    calls = []

    def energy(theta):
        calls.append(theta.shape[0])
        return BOWL(theta)

    path = linear(torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64))
    p = profile(energy, path, n_points=9)
    assert p.n_evaluations == sum(calls) == len(p.t)


# --- make_result and validate -------------------------------------------------------------

def test_make_result_assembles_barriers_connected_and_counts():
    a, b = torch.tensor([-1.0, 0.0], dtype=f64), torch.tensor([1.0, 0.0], dtype=f64)
    path = Path(torch.stack([a, torch.tensor([0.0, 1.0], dtype=f64), b]))  # over y = 1: E = 2
    r = make_result(BOWL, path, level=2.5, n_evaluations=10, note="x")
    assert abs(r.max_energy - 2.0) < 1e-2 and r.connected is True and r.success
    assert abs(r.barrier - (r.max_energy - 1.0)) < 1e-12
    assert r.barrier_linear == r.profile.max_excess
    assert r.n_evaluations == 10 + r.profile.n_evaluations and r.info == {"note": "x"}
    assert r.length == path.length() and r.normalized_length == path.normalized_length()
    assert r.certified is False and "estimate" in r.message  # no Lipschitz constant given
    assert make_result(BOWL, path, profile_kwargs={"lipschitz": 2 * math.sqrt(2)}).certified
    low = make_result(BOWL, path, level=1.5)
    assert low.connected is False and not low.success
    assert make_result(BOWL, path).connected is None
    with pytest.raises(ValueError, match="level must be a finite number, got nan"):
        make_result(BOWL, path, level=float("nan"))
    with pytest.raises(ValueError, match="level_rtol must be a finite number >= 0, got -1"):
        make_result(BOWL, path, level=2.5, level_rtol=-1)


def test_counted_energy_and_level_checks():
    E = CountedEnergy(BOWL)
    assert E.at(torch.tensor([1.0, 1.0])) == 3.0 and E.n_evaluations == 1
    with pytest.raises(ValueError, match=r"expected \(2,\)"):
        CountedEnergy(lambda th: th.sum())(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="non-finite"):
        CountedEnergy(lambda th: th[:, 0] / 0)(torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"\(B, d\)"):
        E(torch.zeros(2))
    with pytest.raises(TypeError, match="callable"):
        CountedEnergy(3)
    assert energy_scale(-100.0, -90.0) == 10.0 and energy_scale(-5.0, -5.0) == 5.0
    assert energy_scale(-100.0, -90.0, level=-50.0) == 50.0
    with pytest.raises(ValueError, match="below the energy of endpoint a"):
        check_level(-101.0, -100.0, -110.0)
    assert check_level(None, 0.0, 0.0) is None


def test_save_load_round_trip_keeps_bfloat16_nodes(tmp_path):
    nodes = torch.tensor([[0.0, 1.0], [0.5, -2.0], [3.0, 4.0]], dtype=torch.bfloat16)
    Path(nodes).save(tmp_path / "p.npz")
    back = Path.load(tmp_path / "p.npz")
    assert back.nodes.dtype == torch.bfloat16
    assert torch.equal(back.nodes, nodes)


def test_path_at_refuses_nan_and_names_the_value():
    p = Path(torch.tensor([[0.0, 0.0], [1.0, 1.0]]))
    for bad in (float("nan"), -0.5, math.inf):
        with pytest.raises(ValueError, match=r"must lie in \[0, 1\], got"):
            p.at(torch.tensor([0.5, bad]))


def test_save_gives_the_file_the_umask_permissions_not_0600(tmp_path):
    old = os.umask(0o022)
    try:
        Path(torch.tensor([[0.0, 0.0], [1.0, 1.0]])).save(tmp_path / "p.npz")
        assert (tmp_path / "p.npz").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        Path(torch.tensor([[0.0, 0.0], [1.0, 1.0]])).save(tmp_path / "q.npz")
        assert (tmp_path / "q.npz").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_load_reads_a_plain_npy_array_of_nodes_or_says_why_not(tmp_path):
    nodes = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]], dtype=np.float32)
    np.save(tmp_path / "nodes.npy", nodes)
    back = Path.load(tmp_path / "nodes.npy")
    assert back.nodes.dtype == torch.float32 and np.array_equal(back.nodes.numpy(), nodes)
    np.save(tmp_path / "ints.npy", np.arange(6).reshape(3, 2))
    with pytest.raises(ValueError, match="int64 array; Path nodes must be floating"):
        Path.load(tmp_path / "ints.npy")
    (tmp_path / "text.npy").write_text("not numpy")
    with pytest.raises(ValueError, match="not a saved Path"):
        Path.load(tmp_path / "text.npy")


def test_segments_below_the_dtype_resolution_are_reported_not_certified():
    """Far from the origin in float32 a short path cannot be bisected to an atol of 1e-9:
    the profile says so instead of claiming a certificate (or bisecting forever)."""
    a = torch.tensor([1000.0, 0.0])
    path = linear(a, a + torch.tensor([1e-2, 0.0]))
    p = profile(BOWL, path, lipschitz=2 * 1000.02, atol=1e-9)
    assert not p.converged and not p.certified and p.n_evaluations < 200
    assert "too short to bisect" in p.message
    assert p.bound >= p.max_energy
