"""Tests of lecture_lib.topics.geodesic_experiments: the protocol and the stored results."""

import json

import pytest
import torch

from lecture_lib import models
from lecture_lib.topics import geodesic_experiments as ge


def test_text_task_energy_is_the_module_forward_loss():
    task = ge.make_task("text", "live")
    theta = ge.initial_points(task, [0, 1])
    x, y = task.energy.inputs, task.energy.targets
    for row, value in zip(theta, task.energy(theta)):
        net = task.make_model()
        torch.nn.utils.vector_to_parameters(row.clone(), net.parameters())
        logits = net(x)
        ref = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        assert value.item() == pytest.approx(ref.item(), rel=1e-5)


def test_snapshots_are_under_their_levels():
    task = ge.make_task("cubic", "live")
    theta0 = ge.initial_points(task, range(2))
    levels = [0.3, 0.2]
    snaps, reached, energies, steps = ge.train_to_levels(task.energy, theta0, levels, lr=0.02, max_steps=3000)
    assert reached.all()
    for i, u in enumerate(levels):
        assert (task.energy(snaps[i]) <= 0.95 * u + 1e-6).all()
    assert (steps[0] <= steps[1]).all()


def test_levels_must_decrease():
    task = ge.make_task("cubic", "live")
    with pytest.raises(ValueError, match="decreasing"):
        ge.train_to_levels(task.energy, ge.initial_points(task, [0]), [0.1, 0.2])


def test_unknown_task_and_scale_are_named():
    with pytest.raises(ValueError, match="task"):
        ge.make_task("cifar10")
    with pytest.raises(ValueError, match="scale"):
        ge.make_task("cubic", "huge")


def test_stored_file_records_its_provenance():
    stored = ge.load_results()
    meta = stored["meta"]
    for key in ("command", "configs", "library_version", "torch_version", "device", "seeds", "seconds"):
        assert key in meta
    assert {r["task"] for r in stored["records"]} == set(ge.TASKS)
    assert all(r["normalized_length"] >= 1 - 1e-9 for r in stored["records"])


def test_results_round_trip_and_bad_files_are_refused(tmp_path):
    rec = ge.PairRecord("cubic", 0.2, 0, (0, 1), True, 1.01, 1, (0.1, 0.12), 2.0, 100, 0.5, "ok")
    path = tmp_path / "r.json"
    ge.save_results(path, {"scale": "live"}, [rec])
    assert ge.load_results(path)["records"][0]["normalized_length"] == 1.01
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="not a results file"):
        ge.load_results(bad)


def test_a_stored_cubic_point_is_reproduced():
    """Re-run one stored point (cubic, pair 0, level 0.14) with one pair instead of all, and
    compare: normalized length within 2 percent, beads within 1 (float rounding of the batched
    training may differ between machines and batch sizes)."""
    stored = ge.load_results()
    levels = list(stored["meta"]["configs"]["cubic"]["levels"])
    i = levels.index(0.14)
    rec = next(r for r in stored["records"] if r["task"] == "cubic" and r["level"] == 0.14 and r["pair"] == 0)
    (again,) = ge.run_task("cubic", "stored", pairs=1, levels=[i])
    assert again.connected == rec["connected"]
    assert again.normalized_length == pytest.approx(rec["normalized_length"], rel=0.02)
    assert abs(again.n_beads - rec["n_beads"]) <= 1


def test_summary_gives_median_and_range_per_level():
    recs = [dict(task="cubic", level=0.2, connected=True, normalized_length=v, n_beads=b)
            for v, b in ((1.0, 0), (1.2, 2), (1.1, 1))]
    recs.append(dict(task="cubic", level=0.2, connected=False, normalized_length=5.0, n_beads=9))
    (row,) = ge.summarize(recs)
    assert row["n_pairs"] == 4 and row["n_connected"] == 3
    assert row["length"] == pytest.approx((1.1, 1.0, 1.2)) and row["beads"] == (1.0, 0.0, 2.0)
