"""Freeman & Bruna's experiment: normalized level-set geodesic length against the loss level.

The protocol of Freeman & Bruna (ICLR 2017), section 5 and figure 3: for a loss level ``u``,
train two independently initialized networks until their training loss is under ``u``, join
them inside the sublevel set ``Omega_u = {E <= u}`` by dynamic string sampling
(:func:`lecture_lib.paths.string_sampling`) and record

- the *normalized length* ``sum_k ||theta_{k+1} - theta_k|| / ||theta_end - theta_start||``
  of the path found (1 for a straight segment: a nearly convex level set), and
- the *number of beads* inserted.

A pair for which no path was found inside ``Omega_u`` is recorded with ``connected=False``:
the search gave up; that does not show the two are in different components.

Each model is trained once, from its seed, by full-batch Adam on the task's training
energy; a snapshot is taken the first time its loss is under ``fraction * u`` for each
level ``u`` of the (decreasing) list, so a snapshot is exactly "trained from its
initialization until under the level". The four tasks of the lecture's figure are
``TASKS``; their configurations at the ``"live"`` (chapter) and ``"stored"``
(``make experiments``) scales are ``CONFIGS``.

>>> task = make_task("cubic", "live")
>>> task.dim
33
"""

from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import asdict, dataclass

import torch

from .. import __version__, data, models
from ..energy import flatten, model_energy
from ..paths import string_sampling

TASKS = ("cubic", "mnist", "mnist1d", "text")
SCALES = ("live", "stored")
# The paper's reported normalized lengths (Freeman & Bruna 2017, section 5), read as the
# lecture quotes them; used only for the comparison in the chapter.
PAPER = {"cubic": "about 1.0 above L0 = 0.168, a spike near 2.5 just below it",
         "mnist": "about 1.07 at the lowest levels, falling to 1.00",
         "mnist1d": "CIFAR-10: about 1.85 at the lowest levels, 1.00 at high ones",
         "text": "Penn Treebank: 1.09-1.35"}

CONFIGS = {
    "live": {
        "cubic": dict(n=100, levels=(0.30, 0.20, 0.15), pairs=3, lr=0.02, max_steps=3000),
        "mnist": dict(n=48, channels=(2, 4), levels=(1.0, 0.6), pairs=2, lr=0.01, max_steps=600),
        "mnist1d": dict(n=100, channels=4, levels=(1.9, 1.6), pairs=2, lr=0.01, max_steps=1500),
        "text": dict(n=16, seq_len=12, hidden=8, embed=4, levels=(3.4, 3.1), pairs=2, lr=0.02,
                     max_steps=1500),
    },
    "stored": {
        "cubic": dict(n=100, levels=(0.30, 0.20, 0.16, 0.14, 0.12, 0.10, 0.08), pairs=6, lr=0.02,
                      max_steps=40000),
        "mnist": dict(n=500, channels=(2, 4), levels=(1.5, 1.0, 0.6, 0.3, 0.15), pairs=4, lr=0.01,
                      max_steps=3000),
        "mnist1d": dict(n=1000, channels=4, levels=(2.0, 1.8, 1.6, 1.4, 1.2, 1.0), pairs=4, lr=0.01,
                        max_steps=5000),
        "text": dict(n=64, seq_len=32, hidden=16, embed=8, levels=(3.4, 3.1, 2.9, 2.7, 2.5), pairs=4,
                     lr=0.02, max_steps=5000),
    },
}
STAND_INS = {"mnist1d": "MNIST-1D stands in for CIFAR-10, which no offline package ships",
             "text": "English help text of the standard library stands in for Penn Treebank"}


@dataclass(frozen=True)
class Task:
    """One panel of the figure: the training ``energy`` ``(B, d) -> (B,)``, a ``make_model``
    that builds the network (call it under a seed), ``dim = d``, and the configuration."""

    name: str
    scale: str
    energy: object
    make_model: object
    dim: int
    config: dict
    description: str


def _check(name, value, options):
    if value not in options:
        raise ValueError(f"unknown {name} {value!r}; choose one of {options}")


def make_task(name: str, scale: str = "live", *, device=None, dtype=torch.float32) -> Task:
    """The task ``name`` (one of ``TASKS``) at ``scale`` (``"live"`` or ``"stored"``)."""
    _check("task", name, TASKS)
    _check("scale", scale, SCALES)
    c = CONFIGS[scale][name]
    if name == "cubic":
        ds = data.cubic_regression(n=c["n"], seed=0, device=device, dtype=dtype)
        make = models.SigmoidNet1441
        x, y, desc = ds.x_train, ds.y_train, "cubic regression, 1-4-4-1 sigmoid net, L1 loss"
    elif name == "mnist":
        ds = data.mnist(seed=0, device=device, dtype=dtype)
        make = lambda: models.SmallCNN(12, 10, channels=c["channels"])
        x, y = downsample_mnist(ds.x_train[:c["n"]]), ds.y_train[:c["n"]]
        desc = f"MNIST ({c['n']} real images, 12x12), SmallCNN"
    elif name == "mnist1d":
        ds = data.mnist1d(device=device, dtype=dtype)
        make = lambda: models.CNN1D(40, 10, channels=c["channels"])
        x, y, desc = ds.x_train[:c["n"]], ds.y_train[:c["n"]], f"MNIST-1D ({c['n']} sequences), CNN1D"
    else:
        ds = data.text(seq_len=c["seq_len"], device=device)
        vocab = ds.n_classes
        make = lambda: models.CharLSTM(vocab, hidden=c["hidden"], embed=c["embed"])
        x, y = ds.x_train[:c["n"]], ds.y_train[:c["n"]]
        desc = f"character LSTM ({c['n']} windows of {c['seq_len']} characters)"
    template = make().to(device=device, dtype=dtype)
    energy = model_energy(template, ds.loss, x, y)
    return Task(name, scale, energy, make, energy.dim, dict(c), desc)


def downsample_mnist(x: torch.Tensor) -> torch.Tensor:
    """``(N, 784)`` MNIST images -> ``(N, 144)``: crop the 2-pixel border (MNIST digits lie in
    the central 20x20 box) and average 2x2 blocks, so a CNN runs on 12x12 images."""
    img = x.reshape(-1, 1, 28, 28)[:, :, 2:26, 2:26]
    return torch.nn.functional.avg_pool2d(img, 2).reshape(len(x), 144)


def initial_points(task: Task, seeds) -> torch.Tensor:
    """Flat parameters ``(len(seeds), d)`` of ``task.make_model()`` built under each seed."""
    rows = []
    for s in seeds:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(s))
            rows.append(flatten(task.make_model()))
    dev = task.energy.theta0().device if hasattr(task.energy, "theta0") else None
    return torch.stack(rows).to(device=dev)


def train_to_levels(energy, theta0, levels, *, fraction=0.95, lr=0.01, max_steps=1000):
    """Full-batch Adam on all rows of ``theta0 (M, d)`` at once (one batched energy call per
    step; Adam is elementwise, so rows are independent), snapshotting each row the first
    time ``E <= fraction * u`` for each level ``u`` (levels must be positive and decreasing).

    Returns ``(snapshots (L, M, d), reached (L, M) bool, energies (L, M), steps (L, M))``;
    a row that never reached a level keeps its last point there, with ``reached=False``.
    """
    levels = [float(u) for u in levels]
    if not levels or any(u <= 0 for u in levels) or any(b >= a for a, b in zip(levels, levels[1:])):
        raise ValueError(f"levels must be positive and strictly decreasing, got {levels}")
    theta = theta0.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([theta], lr=lr)
    L, M = len(levels), theta.shape[0]
    snaps = theta.detach().clone().expand(L, -1, -1).clone()
    reached = torch.zeros(L, M, dtype=torch.bool)
    energies = torch.full((L, M), float("nan"))
    steps = torch.full((L, M), -1, dtype=torch.long)
    targets = torch.tensor(levels)[:, None] * fraction  # (L, 1)
    for step in range(max_steps + 1):
        values = energy(theta)  # (M,)
        v = values.detach().cpu()
        new = (v[None, :] <= targets) & ~reached  # (L, M)
        if bool(new.any()):
            snaps[new] = theta.detach()[new.nonzero()[:, 1]]
            energies[new], steps[new] = v[None, :].expand(L, -1)[new], step
            reached |= new
        if bool(reached.all()) or step == max_steps:
            break
        active = ~reached[-1]  # rows still above the lowest target keep training
        opt.zero_grad(set_to_none=True)
        (values * active.to(values.device, values.dtype)).sum().backward()
        opt.step()
    left = ~reached
    snaps[left] = theta.detach()[left.nonzero()[:, 1]]
    energies[left] = v[None, :].expand(L, -1)[left]
    return snaps, reached, energies, steps


@dataclass(frozen=True)
class PairRecord:
    """One point of the figure: the pair ``pair`` joined at ``level``."""

    task: str
    level: float
    pair: int
    seeds: tuple
    connected: bool
    normalized_length: float
    n_beads: int
    energies: tuple
    distance: float
    n_evaluations: int
    seconds: float
    message: str


def join_pairs(task: Task, level_index: int, snapshots, reached, *, seed=0, progress=False, skip=(),
               keep_results=False, **options):
    """Join pair ``p`` = rows ``2p, 2p + 1`` of ``snapshots[level_index]`` by string sampling.

    ``options`` go to :func:`lecture_lib.paths.string_sampling` (default greedy beads,
    trained by Adam). A pair whose ends did not both reach the level is skipped, and so are
    the pair indices in ``skip``. ``keep_results``: return ``(records, path results)``.
    """
    level = task.config["levels"][level_index]
    kw = dict(method="greedy", optimizer="adam", max_depth=8, max_steps=300) | options
    out, results = [], []
    for p in range(snapshots.shape[1] // 2):
        if p in skip or not bool(reached[level_index, 2 * p:2 * p + 2].all()):
            continue
        a, b = snapshots[level_index, 2 * p], snapshots[level_index, 2 * p + 1]
        t0 = time.perf_counter()
        r = string_sampling(task.energy, a, b, level, seed=seed + p, progress=progress, **kw)
        out.append(PairRecord(task.name, float(level), p, (2 * p, 2 * p + 1), bool(r.connected),
                              float(r.normalized_length), int(r.info["n_beads"]),
                              (float(r.profile.energies[0]), float(r.profile.energies[-1])),
                              float(torch.linalg.vector_norm(b - a)), int(r.n_evaluations),
                              time.perf_counter() - t0, r.message))
        results.append(r)
    return (out, results) if keep_results else out


def run_task(name: str, scale: str = "live", *, pairs=None, levels=None, seed_offset=0, device=None,
             progress=False, done=(), on_record=None, **options):
    """The whole protocol for one task; returns the list of :class:`PairRecord`.

    Model seeds are ``seed_offset + 0 .. 2 * pairs - 1`` (pair ``p``: seeds ``2p, 2p + 1``).
    ``levels``: indices into the configured levels (default all). ``done``: keys
    ``(task, level, pair)`` to skip (resuming); ``on_record(record)`` is called after each.
    """
    task = make_task(name, scale, device=device)
    c = task.config
    n_pairs = c["pairs"] if pairs is None else int(pairs)
    theta0 = initial_points(task, range(seed_offset, seed_offset + 2 * n_pairs))
    deepest = len(c["levels"]) if levels is None else max(levels) + 1  # train no lower than needed
    snaps, reached, _, _ = train_to_levels(task.energy, theta0, c["levels"][:deepest], lr=c["lr"],
                                           max_steps=c["max_steps"])
    records = []
    for i in (range(len(c["levels"])) if levels is None else levels):
        skip = {p for p in range(n_pairs) if (name, float(c["levels"][i]), p) in set(done)}
        for rec in join_pairs(task, i, snaps, reached, progress=progress, skip=skip, **options):
            records.append(rec)
            if on_record is not None:
                on_record(rec)
    return records


def live_run(name: str, *, device=None) -> dict:
    """The chapter's live run of task ``name``: ``{"task", "records", "entries"}`` where each
    entry holds ``level``, ``a``, ``b`` and the :class:`PathResult` of one joined pair."""
    task = make_task(name, "live", device=device)
    c = task.config
    theta0 = initial_points(task, range(2 * c["pairs"]))
    snaps, reached, _, _ = train_to_levels(task.energy, theta0, c["levels"], lr=c["lr"],
                                           max_steps=c["max_steps"])
    records, entries = [], []
    for i, level in enumerate(c["levels"]):
        recs, results = join_pairs(task, i, snaps, reached, keep_results=True)
        for rec, res in zip(recs, results):
            records.append(rec)
            entries.append(dict(task=task, level=float(level), pair=rec.pair, result=res,
                                a=snaps[i, 2 * rec.pair], b=snaps[i, 2 * rec.pair + 1]))
    return dict(task=task, records=records, entries=entries)


def summarize(records) -> list[dict]:
    """Per (task, level): median, min and max of the normalized length and of the beads of the
    connected pairs, and how many pairs were tried and joined."""
    groups = {}
    for r in records:
        r = r if isinstance(r, dict) else asdict(r)
        groups.setdefault((r["task"], r["level"]), []).append(r)
    rows = []
    for (name, level), rs in sorted(groups.items(), key=lambda kv: (TASKS.index(kv[0][0]), -kv[0][1])):
        ok = [r for r in rs if r["connected"]]
        nl = torch.tensor([r["normalized_length"] for r in ok], dtype=torch.float64)
        nb = torch.tensor([float(r["n_beads"]) for r in ok], dtype=torch.float64)
        stat = lambda t: ((float(t.quantile(0.5)), float(t.min()), float(t.max())) if len(t)
                          else (float("nan"),) * 3)  # quantile: the mean of the middle two when even
        rows.append(dict(task=name, level=level, n_pairs=len(rs), n_connected=len(ok),
                         length=stat(nl), beads=stat(nb)))
    return rows


def provenance(command: str, scale: str, device) -> dict:
    """What a stored file records about the run that made it."""
    return dict(command=command, scale=scale, configs=CONFIGS[scale], library_version=__version__,
                torch_version=torch.__version__, device=str(device or "cpu"),
                machine=f"{platform.machine()} {platform.processor() or ''}".strip(),
                n_threads=torch.get_num_threads(), cpu_count=os.cpu_count(),
                seeds="pair p of each task: models built under torch.manual_seed(2p) and (2p + 1)")


STORED = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                      "experiments", "geodesics.json")  # written by `make experiments`


def load_results(path=STORED) -> dict:
    """A stored results file (default the repository's ``experiments/geodesics.json``): ``{"meta": provenance, "records": [PairRecord as dict]}``."""
    with open(path) as f:
        stored = json.load(f)
    if set(stored) != {"meta", "records"}:
        raise ValueError(f"{path} is not a results file: keys {sorted(stored)}")
    return stored


def save_results(path, meta: dict, records) -> None:
    """Write ``{"meta", "records"}`` atomically (a partial run leaves a valid file)."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        json.dump({"meta": meta, "records": [r if isinstance(r, dict) else asdict(r) for r in records]},
                  f, indent=1)
    os.replace(tmp, path)
