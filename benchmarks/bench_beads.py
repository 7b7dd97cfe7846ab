"""Bead training of dynamic string sampling on SmallCNN / MNIST: batched beads against the same
algorithm run bead by bead with ``torch.optim`` (the way Freeman & Bruna's code trains each
bead as a model), and the wall time of one full connection (results: benchmarks/RESULTS.md).

    .venv/bin/python benchmarks/bench_beads.py [--n 256] [--beads 8] [--steps 40] [--repeats 5] [--device cpu|cuda]
        [--channels 16 32] [--chunk-size K] [--image-size 28|12] [--all-steps] [--skip-full]

1. Beads: ``--beads`` starting points on the segment between two independently trained
   SmallCNNs (channels 16, 32), trained for ``--steps`` Adam steps each toward the target
   ``0.95 level``, keeping each bead's best point. *Batched*: ``lecture_lib.paths.strings._descend``
   (all beads in one batched energy call per step: ``SmallCNN.forward_batched``, the B weight
   sets as one grouped convolution, in chunks of ``--chunk-size`` beads, default the energy's
   own choice). *Bead by bead*: for each bead, its parameters loaded once into an
   ``nn.Module`` and trained by ``torch.optim.Adam`` with the same per-coordinate rate and
   epsilon, the same best-so-far and stopping rule. Same algorithm, so the same result up to
   rounding: the script prints the largest difference of the beads' final energies.
   Medians of ``--repeats`` runs (wall and CPU time), the two methods in turn within each repeat.
2. (unless ``--skip-full``) One full ``string_sampling(E, a, b, level)`` with default options: wall and CPU time.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import statistics
import time

import torch
from torch.nn.utils import vector_to_parameters

from lecture_lib import data, models, train
from lecture_lib.energy import flatten, model_energy
from lecture_lib.paths import CountedEnergy, string_sampling
from lecture_lib.paths.strings import _descend
from lecture_lib.topics.geodesic_experiments import downsample_mnist


def setup(n, device, level, channels=(16, 32), chunk_size=None, image_size=28):
    ds = data.mnist(seed=0, device=device)
    x, y = ds.x_train[:n], ds.y_train[:n]
    if image_size == 12:  # chapter 5's size: MNIST averaged to 12 x 12
        x = downsample_mnist(x)
    elif image_size != 28:
        raise SystemExit("--image-size is 28 (MNIST) or 12 (chapter 5's downsampled MNIST)")
    torch.manual_seed(0)
    make = lambda: models.SmallCNN(image_size=image_size, channels=channels).to(device)
    net = make()
    E = model_energy(net, ds.loss, x, y, chunk_size=chunk_size)
    print(E, flush=True)
    ends = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        r = train.train_to_level(E, flatten(make()), level, scale=level,
                                 max_steps=2000, lr=1e-3)
        print(f"endpoint {seed}: {r.message}", flush=True)
        ends.append(r.theta)
    return net, ds.loss, x, y, E, ends


def batched(E, starts, target, h, lr, steps):
    theta, values, _, _ = _descend(CountedEnergy(E), starts, target, h=h, optimizer="adam", lr=lr,
                                   max_steps=steps, patience=steps + 1)
    return values


def bead_by_bead(net, loss_fn, x, y, starts, target, h, lr, steps):
    """The paper's way: each bead is a model trained by torch.optim (same rule as _descend)."""
    d = starts.shape[1]
    out = []
    for i in range(starts.shape[0]):
        model = copy.deepcopy(net)
        vector_to_parameters(starts[i], model.parameters())
        eps = torch.finfo(starts.dtype).tiny ** 0.5
        opt = torch.optim.Adam(model.parameters(), lr=float(lr * h[i] / math.sqrt(d)), eps=eps)
        best = math.inf
        for _ in range(steps + 1):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            best = min(best, float(loss.detach()))
            if best <= target:
                break
            loss.backward()
            opt.step()
        out.append(best)
    return torch.tensor(out)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=256)
    p.add_argument("--beads", type=int, default=8)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--level", type=float, default=0.3)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--channels", type=int, nargs=2, default=(16, 32))
    p.add_argument("--chunk-size", type=int, default=None)
    p.add_argument("--image-size", type=int, default=28)
    p.add_argument("--skip-full", action="store_true")
    p.add_argument("--all-steps", action="store_true", help="no target: every bead takes --steps steps")
    o = p.parse_args()
    device = torch.device(o.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"device {device}, load average {os.getloadavg()[0]:.1f}", flush=True)
    net, loss_fn, x, y, E, (a, b) = setup(o.n, device, o.level, tuple(o.channels), o.chunk_size, o.image_size)
    g = torch.Generator(device=device).manual_seed(0)
    t = torch.arange(1, o.beads + 1, device=device, dtype=a.dtype)[:, None] / (o.beads + 1)
    h = torch.full((o.beads,), float((b - a).norm()) / (o.beads + 1), device=device, dtype=a.dtype)
    starts = (1 - t) * a + t * b + 1e-3 * h[:, None] * torch.randn(o.beads, a.numel(), generator=g,
                                                                   device=device, dtype=a.dtype)
    target = -math.inf if o.all_steps else 0.95 * o.level  # --all-steps: every bead takes every step
    times = {"batched": [], "bead by bead": []}
    cpu = {k: [] for k in times}
    for _ in range(o.repeats):
        for name in times:
            sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
            sync()
            t0, c0 = time.perf_counter(), time.process_time()
            v = (batched(E, starts, target, h, 0.01, o.steps) if name == "batched" else
                 bead_by_bead(net, loss_fn, x, y, starts, target, h, 0.01, o.steps))
            sync()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            if name == "batched":
                v_batched = v.cpu()
            else:
                v_loop = v
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    print(f"\n{o.beads} beads x {o.steps} Adam steps, SmallCNN{tuple(o.channels)} d={a.numel()}, N={o.n}, "
          f"chunk_size {E.chunk_size}, median of {o.repeats}, load average {os.getloadavg()[0]:.1f}:")
    print("| method | wall (s) | CPU (s) | speed-up (wall) | speed-up (CPU) |\n|---|---|---|---|---|")
    for k in times:
        print(f"| {k} | {med[k]:.3f} | {med_cpu[k]:.3f} | {med['bead by bead'] / med[k]:.2f}x "
              f"| {med_cpu['bead by bead'] / med_cpu[k]:.2f}x |")
    print(f"final bead energies: batched {v_batched.tolist()}\n  bead by bead {v_loop.tolist()}\n"
          f"  max |difference| {float((v_batched.double() - v_loop.double()).abs().max()):.3g}")
    if o.skip_full:
        return
    c0, t0 = time.process_time(), time.perf_counter()
    r = string_sampling(E, a, b, o.level, progress=False)
    print(f"\nfull connection, defaults, level {o.level}: wall {time.perf_counter() - t0:.1f} s, "
          f"CPU {time.process_time() - c0:.1f} s; connected={r.connected}, beads {r.info['n_beads']}, "
          f"max {r.max_energy:.4g}, normalized length {r.normalized_length:.3f}, "
          f"{r.n_evaluations} evaluations\n  {r.message}")


if __name__ == "__main__":
    main()
