"""Issue 8: the path algorithms with their DEFAULT options on the course's networks.

Two endpoints trained independently to just under a level (tests/path_networks.py) must be
joined under that level (``low``, a loss the tiny models reach) and under a high level (90%
of the way up to the straight segment's maximum), wherever a path is known to exist: string
sampling finds one on every network here. The fast tests pin the issue's failing case (the
1-4-4-1 cubic net, L1 loss, level 0.12) and the digits MLP; the other networks are slow.
NEB is local: on the cubic net at 0.12 plain NEB (``pivot_rounds=0``) relaxes the straight band
to a nearby path over 0.14 and must say "no path found" (not "not connected"); with a level
its default pivots (lecture_lib/paths/pivots.py) bring it under. Bezier's mean-energy
training alone leaves the curve at 0.1203 there; its level phase brings it under.
The CharLSTM on
``data.text`` runs through its own ``forward_batched`` (a stacked LSTM recurrence: ``aten::lstm``
has no vmap batching rule), fast with greedy string sampling, slow with the other algorithms.
"""

import pytest
import torch

from lecture_lib import paths
from path_networks import problem


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def run(algorithm, E, a, b, level):
    if algorithm == "neb":
        return paths.neb(E, a, b, level=level, progress=False)
    if algorithm == "bezier":
        return paths.bezier(E, a, b, level=level, progress=False)
    return paths.string_sampling(E, a, b, level, method=algorithm, progress=False)


def assert_connects(r, level):
    assert r.connected, r.message
    assert r.max_energy <= level * (1 + 1e-3)
    assert "not connected" not in r.message


@pytest.mark.parametrize("method", ["greedy", "constrained"])
def test_cubic_net_l1_connects_at_0_12_with_default_options(method):
    E, a, b, low, high = problem("cubic")
    assert low == 0.12
    r = run(method, E, a, b, low)
    assert_connects(r, low)
    assert r.info["n_beads"] >= 1 and r.normalized_length > 1.05  # it had to leave the segment
    assert all(bead["stopped"] == "target" for bead in r.info["beads"] if bead["inserted"])


def test_digits_relu_mlp_connects_near_its_loss_with_default_options():
    E, a, b, low, high = problem("digits_mlp")
    assert_connects(run("greedy", E, a, b, low), low)
    assert_connects(run("bezier", E, a, b, high), high)


def test_plain_neb_on_the_cubic_net_reports_an_honest_failure_at_0_12():
    E, a, b, low, high = problem("cubic")
    r = paths.neb(E, a, b, level=low, pivot_rounds=0, progress=False)
    assert r.connected is False and r.success is False and r.max_energy > 0.13  # the local MEP's saddle
    assert "no path found" in r.message and "not connected" not in r.message
    assert "plain NEB" in r.message and r.info["pivots"] == []


def test_neb_with_its_default_pivots_connects_the_cubic_net_at_0_12_and_high():
    E, a, b, low, high = problem("cubic")
    r = run("neb", E, a, b, low)
    assert_connects(r, low)
    assert 1 <= len(r.info["pivots"]) <= 8 and r.info["pivot_stop"] == "below the level"
    assert all(e["pivot_energy"] <= low for e in r.info["pivot_rounds"])
    assert all(float(E(r.path.nodes[i][None])) <= low for i in r.info["pivots"])  # held under the level
    assert_connects(run("neb", E, a, b, high), high)


def test_bezier_on_the_cubic_net_needs_and_uses_its_level_phase_at_0_12():
    E, a, b, low, high = problem("cubic")
    r = run("bezier", E, a, b, low)
    assert_connects(r, low)
    phase = r.info["level_phase"]
    assert phase["steps"] > 0 and phase["start"] > low >= phase["end"]  # the mean phase alone crossed


def test_char_lstm_on_text_connects_near_its_loss_and_high_with_default_string_sampling():
    E, a, b, low, high = problem("text_lstm")
    assert E.method == "forward_batched"  # the stacked recurrence, not vmap over nn.LSTM
    assert float(E(torch.stack([a, b])).max()) < low < high
    for level in (low, high):
        r = run("greedy", E, a, b, level)
        assert_connects(r, level)
    assert r.info["n_beads"] >= 1  # the straight segment is over both levels


CASES = [(net, alg, which) for net in ("cubic", "digits_mlp", "mnist_cnn", "mnist1d_cnn", "text_lstm")
         for alg in ("greedy", "constrained", "neb", "bezier") for which in ("low", "high")]


@pytest.mark.slow
@pytest.mark.parametrize("net,algorithm,which", CASES)
def test_default_options_connect_the_course_networks(net, algorithm, which):
    E, a, b, low, high = problem(net)
    level = low if which == "low" else high
    assert_connects(run(algorithm, E, a, b, level), level)
