"""`make gpu-check`: on a CUDA machine, run the CUDA tests and the benchmarks in about 5
minutes and print the figures for benchmarks/RESULTS.md; without CUDA, say so and exit 0.

1. ``pytest -m cuda tests/`` (every test that needs a CUDA device);
2. ``bench_paths.py --device cuda`` (energy on a path incl. the speed-up over
   loss-landscapes on the minibatch, NEB step, profile evaluations);
3. ``bench_beads.py --device cuda`` (batched beads vs bead by bead on SmallCNN/MNIST and
   one full connection);
4. energy-evaluation throughput of a ResNet-18-size network (11 M parameters, GroupNorm so it
   has no buffers) on a stand-in minibatch of 128 random 3x32x32 images (random data, named
   as such: only the speed is measured): points per second at batches of 1, 4 and 16 points.
Each step has its own time limit; a step that fails is reported and the next one runs.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
STEPS = [("CUDA tests", [PY, "-m", "pytest", "-q", "-m", "cuda", "tests/", "-p", "no:cacheprovider"], 90),
         ("bench_paths", [PY, "benchmarks/bench_paths.py", "--device", "cuda", "--repeats", "5"], 75),
         ("bench_beads", [PY, "benchmarks/bench_beads.py", "--device", "cuda", "--n", "1024",
                          "--beads", "16", "--repeats", "3"], 90)]


def resnet18_gn(n_classes=10):
    from torch import nn

    def block(cin, cout, stride):
        body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.GroupNorm(8, cout), nn.ReLU(),
                             nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.GroupNorm(8, cout))
        skip = (nn.Identity() if stride == 1 and cin == cout else
                nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.GroupNorm(8, cout)))
        return body, skip

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.body, self.skip = block(cin, cout, stride)

        def forward(self, x):
            return torch.relu(self.body(x) + self.skip(x))

    layers, cin = [nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.GroupNorm(8, 64), nn.ReLU()], 64
    for cout, stride in [(64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)]:
        layers.append(Block(cin, cout, stride))
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, n_classes)]
    return nn.Sequential(*layers)


def resnet_throughput():
    import torch.nn.functional as F

    from lecture_lib.energy import flatten, model_energy
    torch.manual_seed(0)
    net = resnet18_gn().cuda()
    x = torch.randn(128, 3, 32, 32, device="cuda")  # stand-in data: only speed is measured
    y = torch.randint(0, 10, (128,), device="cuda")
    E = model_energy(net, F.cross_entropy, x, y)
    theta = flatten(net)
    print(f"ResNet-18 (GroupNorm) d = {theta.numel():,}, minibatch 128 of 3x32x32 (random stand-in)")
    print("| points per call | calls/s | points/s | with gradients: points/s |\n|---|---|---|---|")
    for B in (1, 4, 16):
        pts = theta + 1e-3 * torch.randn(B, theta.numel(), device="cuda")
        rates = []
        for grad in (False, True):
            def once():
                if grad:
                    p = pts.clone().requires_grad_(True)
                    E(p).sum().backward()
                else:
                    with torch.no_grad():
                        E(pts)
            once()
            torch.cuda.synchronize()
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < 3:
                once()
                n += 1
            torch.cuda.synchronize()
            rates.append(n / (time.perf_counter() - t0))
        print(f"| {B} | {rates[0]:.1f} | {rates[0] * B:.1f} | {rates[1] * B:.1f} |", flush=True)


def main():
    if not torch.cuda.is_available():
        print("gpu-check: torch.cuda.is_available() is False on this machine (torch "
              f"{torch.__version__}): nothing to check; run `make gpu-check` on a machine with an "
              "NVIDIA GPU and a CUDA build of torch.")
        return 0
    print(f"gpu-check on {torch.cuda.get_device_name(0)}, torch {torch.__version__}", flush=True)
    failed = []
    for name, cmd, limit in STEPS:
        print(f"\n== {name} (limit {limit} s): {' '.join(cmd[1:])}", flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run(cmd, cwd=ROOT, timeout=limit).returncode
        except subprocess.TimeoutExpired:
            rc = "timeout"
        print(f"== {name}: exit {rc} after {time.perf_counter() - t0:.0f} s", flush=True)
        if rc != 0:
            failed.append(name)
    print("\n== ResNet-size energy throughput", flush=True)
    try:
        resnet_throughput()
    except Exception as err:  # report and go on: this is a measurement script
        print(f"ResNet throughput failed: {type(err).__name__}: {err}")
        failed.append("resnet")
    print(f"\ngpu-check done; failed steps: {failed or 'none'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
