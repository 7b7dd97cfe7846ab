"""Side-by-side speed of batched energies and path algorithms (results: benchmarks/RESULTS.md).

    .venv/bin/python benchmarks/bench_paths.py [--repeats 7] [--device cpu|cuda] [--threads 1] [--clock cpu]

1. The energy at 64 points of a path for the digits MLP (64-128-10, cross-entropy) on a
   minibatch of 128 samples and on all 1,797: ``model_energy`` (forward_batched and
   functional_call), the certified ``profile``, a loop loading each point into the module,
   ``loss_landscapes.linear_interpolation``, and one square matmul of the same FLOPs.
2. One NEB step (forces on 32 images): batched versus image by image, on Mueller-Brown and on
   the digits MLP (minibatch 128).
3. Evaluations: the certified ``profile`` versus the uniform grid needed to find the same
   maximum within the same tolerance, on a path across a narrow barrier.

Every time is the median of ``--repeats`` runs; the methods compared are run in turn within
each repeat (round-robin), so a ratio is measured in one run under the same load. FLOPs of
one forward of the MLP: ``2 N (64 * 128 + 128 * 10)``.
"""

from __future__ import annotations

import argparse
import copy
import math
import os
import platform
import statistics
import subprocess
import time

import torch
import torch.nn.functional as F
from loss_landscapes import linear_interpolation
from loss_landscapes.metrics import Loss
from sklearn.datasets import load_digits
from torch.nn.utils import vector_to_parameters

from lecture_lib import models, surfaces
from lecture_lib.energy import flatten, model_energy
from lecture_lib.paths import CountedEnergy, linear, profile
from lecture_lib.paths.elastic_band import _band

FLOP_PER_SAMPLE = 2 * (64 * 128 + 128 * 10)


def machine(device) -> str:
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        cpu = next(line.split(":", 1)[1].strip() for line in lscpu.splitlines() if line.startswith("Model name"))
    except (OSError, StopIteration):
        cpu = platform.processor() or "unknown CPU"
    gpu = f", GPU {torch.cuda.get_device_name(0)}" if device.type == "cuda" else " (no GPU: CPU only)"
    return (f"{cpu}, {torch.get_num_threads()} torch threads of {torch.get_num_interop_threads()} "
            f"interop, {os.cpu_count()} logical CPUs; torch {torch.__version__}; "
            f"Python {platform.python_version()}; device measured: {device}{gpu}; load average "
            f"{os.getloadavg()[0]:.1f} at the start")


CLOCK = "wall"  # or "cpu": process CPU time, steadier on a shared machine with --threads 1


def timed(fns: dict, repeats: int, device) -> dict:
    """Median seconds of each callable, run round-robin ``repeats`` times after a warm-up,
    by wall clock or by process CPU time (``--clock``; CPU time on CUDA is meaningless)."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    clock = time.process_time if CLOCK == "cpu" else time.perf_counter
    times = {k: [] for k in fns}
    for f in fns.values():
        f()
    for _ in range(repeats):
        for k, f in fns.items():
            sync()
            t0 = clock()
            f()
            sync()
            times[k].append(clock() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def digits(device):
    X, y = load_digits(return_X_y=True)
    return (torch.tensor(X / 16.0, dtype=torch.float32, device=device),
            torch.tensor(y, dtype=torch.long, device=device))


def mlp_pair(device):
    torch.manual_seed(0)
    net_a = models.MLP([64, 128, 10]).to(device)
    torch.manual_seed(1)
    net_b = models.MLP([64, 128, 10]).to(device)
    return net_a, net_b


def square_matmul(flops, device):
    n = max(8, round((flops / 2) ** (1 / 3)))
    A, B = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    return (lambda: A @ B), 2 * n ** 3


def one_gemm_energy(x, y, chunk):
    """Prototype (not in the library) of a faster MLP 64-128-10 ``forward_batched``: the
    shared input meets all B first-layer weight matrices in ONE matmul ``(N, 64) @ (64, B*128)``
    (``addmm`` with the biases, ReLU in place) instead of B small ones; then as models.py."""
    from lecture_lib.energy import _cross_entropy_batched

    def chunk_energy(th):  # (c, 9610) -> (c,)
        c = th.shape[0]
        W1, b1 = th[:, :8192].reshape(c * 128, 64), th[:, 8192:8320].reshape(1, -1)
        W2, b2 = th[:, 8320:9600].reshape(c, 10, 128), th[:, 9600:]
        h = torch.addmm(b1, x, W1.T).relu_().view(x.shape[0], c, 128).transpose(0, 1)  # (c, N, 128)
        return _cross_entropy_batched(torch.baddbmm(b2[:, None, :], h, W2.transpose(1, 2)), y)

    return lambda theta: torch.cat([chunk_energy(theta[i:i + chunk]) for i in range(0, len(theta), chunk)])


def bench_energy(device, repeats):
    X, Y = digits(device)
    net_a, net_b = mlp_pair(device)
    a, b = flatten(net_a), flatten(net_b)
    nodes = linear(a, b, 64).nodes  # (64, 9610)
    rows = []
    for N in (128, 1797):
        x, y = X[:N], Y[:N]
        E = model_energy(net_a, F.cross_entropy, x, y)
        Efc = model_energy(net_a, F.cross_entropy, x, y, method="functional_call")
        loop_net = copy.deepcopy(net_a)
        metric = Loss(F.cross_entropy, x, y)

        @torch.no_grad()
        def loop():
            out = []
            for row in nodes:
                vector_to_parameters(row, loop_net.parameters())
                out.append(F.cross_entropy(loop_net(x), y))
            return torch.stack(out)

        sweep = {c: model_energy(net_a, F.cross_entropy, x, y, chunk_size=c) for c in (1, 2, 4, 8, 16, 32, 64)}
        mm, mm_flops = square_matmul(64 * N * FLOP_PER_SAMPLE, device)
        proto = one_gemm_energy(x, y, E.chunk_size)
        fns = {"batched": torch.no_grad()(lambda: E(nodes)),
               "one-GEMM prototype": torch.no_grad()(lambda: proto(nodes)),
               "functional_call": torch.no_grad()(lambda: Efc(nodes)),
               "loop": loop,
               "loss_landscapes": lambda: linear_interpolation(net_a, net_b, metric, steps=64, deepcopy_model=True),
               "matmul": mm}
        fns.update({f"chunk {c}": torch.no_grad()(lambda Ec=Ec: Ec(nodes)) for c, Ec in sweep.items()})
        t = timed(fns, repeats, device)
        prof = {}
        t_prof = timed({"profile": lambda: prof.setdefault("p", profile(E, linear(a, b), n_points=64))},
                       max(1, repeats // 2), device)["profile"]
        with torch.no_grad():
            agree = float((E(nodes) - loop()).abs().max())
            agree = max(agree, float((proto(nodes) - loop()).abs().max()))
        flops = 64 * N * FLOP_PER_SAMPLE
        peak = mm_flops / t["matmul"] / 1e9
        rows.append(dict(N=N, t=t, t_prof=t_prof, n_prof=prof["p"].n_evaluations, flops=flops, peak=peak,
                         chunk=E.chunk_size, agree=agree))
    return rows


class LoopEnergy:
    """Value and gradient image by image, through the module (the usual implementation)."""

    def __init__(self, net, x, y):
        self.net, self.x, self.y = copy.deepcopy(net), x, y

    def value_and_grad(self, theta):
        values, grads = [], []
        params = list(self.net.parameters())
        for row in theta:
            with torch.no_grad():
                vector_to_parameters(row, params)
            loss = F.cross_entropy(self.net(self.x), self.y)
            gs = torch.autograd.grad(loss, params)
            values.append(loss.detach())
            grads.append(torch.cat([g.reshape(-1) for g in gs]))
        return torch.stack(values), torch.stack(grads)


class LoopSurface:
    def __init__(self, energy):
        self.E = CountedEnergy(energy)

    def value_and_grad(self, theta):
        pairs = [self.E.value_and_grad(row[None]) for row in theta]
        return torch.cat([v for v, _ in pairs]), torch.cat([g for _, g in pairs])


def bench_neb_step(device, repeats):
    mb = surfaces.get("muller_brown")
    A, B = (torch.tensor(p, dtype=torch.float64, device=device) for p, _ in mb.minima[:2])
    X, Y = digits(device)
    net_a, net_b = mlp_pair(device)
    x, y = X[:128], Y[:128]
    cases = (("Mueller-Brown (d = 2)", linear(A, B, 34).nodes, CountedEnergy(mb.energy), LoopSurface(mb.energy)),
             ("digits MLP, N = 128 (d = 9,610)", linear(flatten(net_a), flatten(net_b), 34).nodes,
              CountedEnergy(model_energy(net_a, F.cross_entropy, x, y)), LoopEnergy(net_a, x, y)))
    out = []
    for name, nodes, batched, looped in cases:
        with torch.no_grad():
            e_ends = batched(nodes[[0, -1]])
        kw = dict(method="improved", spring=1.0, climbing=True)
        fb, fl = _band(batched, nodes, e_ends, **kw), _band(looped, nodes, e_ends, **kw)
        err = float((fb.forces - fl.forces).abs().max() / fb.forces.abs().max())
        t = timed({"batched": lambda: _band(batched, nodes, e_ends, **kw),
                   "image by image": lambda: _band(looped, nodes, e_ends, **kw)}, repeats, device)
        out.append(dict(name=name, t=t, err=err))
    return out


def bench_evaluations():
    """Certified profile vs the uniform grid, on ``3 exp(-((x - x0) / w)^2) + y^2`` along y = 0."""
    rows = []
    for w, x0 in ((0.05, 0.2837), (0.02, 0.2837), (0.005, 0.2837)):
        def energy(th, w=w, x0=x0):
            return 3.0 * torch.exp(-((th[:, 0] - x0) / w) ** 2) + th[:, 1] ** 2
        a, b = torch.tensor([-1.0, 0.0], dtype=torch.float64), torch.tensor([1.0, 0.0], dtype=torch.float64)
        path = linear(a, b)
        p = profile(energy, path)
        target = 3.0 - p.tol  # the same maximum within the profile's own tolerance
        # The best sample of the uniform n-point grid on [-1, 1] is the one nearest x0, at
        # distance min(r, h - r), r = (x0 + 1) mod h, h = 2 / (n - 1): its energy is exact.
        n = torch.arange(2, 100001, dtype=torch.float64)
        h = 2.0 / (n - 1)
        r = torch.remainder(torch.tensor(x0 + 1.0, dtype=torch.float64), h)
        ok = 3.0 * torch.exp(-(torch.minimum(r, h - r) / w) ** 2) >= target  # (n,)
        first = int(n[ok][0]) if bool(ok.any()) else None
        always = int(n[~ok][-1]) + 1 if bool((~ok).any()) else 2
        guaranteed = math.ceil(2.0 / (2 * w * math.sqrt(-math.log(1 - p.tol / 3.0)))) + 1
        rows.append(dict(w=w, p=p, first=first, always=always, guaranteed=guaranteed))
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall clock, or process CPU time (steadier on a shared CPU with --threads 1)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = args.clock
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    t_start = time.perf_counter()
    print(f"Machine: {machine(device)}; clock: {CLOCK}\n")
    print(f"## 1. Energy at 64 points of a path, digits MLP 64-128-10 (median of {args.repeats})\n")
    print("| N | method | time (ms) | GFLOP/s | fraction of matmul | speed-up vs loss-landscapes |")
    print("|---|---|---|---|---|---|")
    for r in bench_energy(device, args.repeats):
        t = r["t"]
        for k in ("batched", "one-GEMM prototype", "functional_call", "loop", "loss_landscapes"):
            gf = r["flops"] / t[k] / 1e9
            print(f"| {r['N']} | {k} | {1e3 * t[k]:.2f} | {gf:.1f} | {gf / r['peak']:.0%} | "
                  f"{t['loss_landscapes'] / t[k]:.2f}x |")
        print(f"| {r['N']} | matmul, same FLOPs | {1e3 * t['matmul']:.2f} | {r['peak']:.1f} | 100% | |")
        print(f"| {r['N']} | certified profile ({r['n_prof']} points, with gradients) | {1e3 * r['t_prof']:.2f} | "
              f"| | {t['loss_landscapes'] / r['t_prof']:.2f}x |")
        sweep = ", ".join(f"{k.split()[1]}: {r['flops'] / v / 1e9 / r['peak']:.0%}" for k, v in t.items()
                          if k.startswith("chunk"))
        print(f"\nN = {r['N']}: default chunk_size {r['chunk']}; fraction of the matmul by chunk size: {sweep}; "
              f"batched (and prototype) vs loop max |difference| {r['agree']:.2e}\n")
    print(f"## 2. One NEB step, forces on 32 images (median of {args.repeats})\n")
    print("| energy | batched (ms) | image by image (ms) | speed-up | max rel. force difference |")
    print("|---|---|---|---|---|")
    for r in bench_neb_step(device, args.repeats):
        t = r["t"]
        print(f"| {r['name']} | {1e3 * t['batched']:.2f} | {1e3 * t['image by image']:.2f} | "
              f"{t['image by image'] / t['batched']:.1f}x | {r['err']:.1e} |")
    print("\n## 3. Evaluations: certified profile vs uniform grid, barrier 3 exp(-((x - 0.2837)/w)^2) on [-1, 1]\n")
    print("| width w | profile evaluations | profile max | tol | certified | smallest grid that finds it | "
          "grid size from which every grid does | grid size guaranteed by the curvature |")
    print("|---|---|---|---|---|---|---|---|")
    for r in bench_evaluations():
        p = r["p"]
        print(f"| {r['w']} | {p.n_evaluations} | {p.max_energy:.6f} | {p.tol:.1e} | {p.certified} | "
              f"{r['first']} | {r['always']} | {r['guaranteed']} |")
    print(f"\nTotal benchmark time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
