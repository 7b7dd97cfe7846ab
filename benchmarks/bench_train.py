"""Training many seeds at once versus one after another.

``lecture_lib.train.fit_ensemble`` (stacked parameters, one batched forward, one
optimizer) against a Python loop of ``lecture_lib.train.fit`` over the same seeds, the same
steps and the same minibatch order. Problems:

- ``digits``: MLPs 64-W-10 (``--widths``, default 128 and 32) on scikit-learn's real 8x8
  digits, cross-entropy, Adam, minibatches of 64;
- ``cubic``: Freeman & Bruna's 1-4-4-1 sigmoid network on ``8x^3 - 10x^2 + 3x``, L1 loss,
  Adam, full batch of 100 points.

Each side is run once to warm up, then timed ``--repeats`` times; the medians of wall-clock
and of process CPU time are reported (the CPU-time ratio is the steadier one on a shared
machine).
The final losses of both sides are compared, so a fast wrong answer shows.

    python benchmarks/bench_train.py                          # CPU, 64 models, both problems
    python benchmarks/bench_train.py --problem digits --widths 32 --threads 1
    python benchmarks/bench_train.py --device cuda            # on a GPU

Prints a markdown table (header and one row per problem) for RESULTS.md.
"""

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from lecture_lib import data, models, train


def _timed(fn, device, repeats):
    """Median wall-clock and median process CPU seconds of ``fn()``, and its last result.

    The CPU time counts only this process's work: on a shared machine it is the steadier
    measure (with one thread, CPU time equals wall time on an idle machine).
    """
    fn()  # warm-up: first calls pay for lazy initialisation (imports, kernels, allocator)
    walls, cpus, out = [], [], None
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize()
        wall, cpu = time.perf_counter(), time.process_time()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus), out


def _problem(name, args, device):
    """``(label, make_model, loss_fn, x, y, batch_size, steps)``; ``name`` is ``digits-W``
    or ``cubic``."""
    if name.startswith("digits-"):
        width = int(name.split("-")[1])
        ds = data.digits(seed=0, device=device)
        return (f"MLP 64-{width}-10, digits, batch 64", lambda: models.MLP([64, width, 10]),
                F.cross_entropy, ds.x_train, ds.y_train, 64, args.steps)
    if name == "cubic":
        ds = data.cubic_regression(n=100, seed=0, device=device)
        return ("SigmoidNet1441, cubic, full batch", models.SigmoidNet1441, F.l1_loss, ds.x_train,
                ds.y_train, None, 2 * args.steps)
    raise ValueError(f"unknown problem {name!r}; options: ['cubic', 'digits-<width>']")


def bench(name, args, device):
    """Time both sides on one problem and return the markdown row."""
    label, make, loss_fn, x, y, batch_size, steps = _problem(name, args, device)
    seeds = list(range(args.n_models))
    kwargs = dict(steps=steps, lr=1e-3, batch_size=batch_size, progress=False)

    def loop():
        losses = []
        for s in seeds:
            torch.manual_seed(s)
            losses.append(train.fit(make(), loss_fn, x, y, seed=s, **kwargs).final_loss)
        return torch.tensor(losses)

    def ensemble():
        return train.fit_ensemble(make, args.n_models, loss_fn, x, y, seeds=seeds, **kwargs).final_losses.cpu()

    t_ens, c_ens, loss_ens = _timed(ensemble, device, args.repeats)
    t_loop, c_loop, loss_loop = _timed(loop, device, args.repeats)
    gap = (loss_ens.double() - loss_loop.double()).abs().max().item()
    where = (f"cpu, {torch.get_num_threads()} thread(s)" if device.type == "cpu"
             else torch.cuda.get_device_name(device))
    return (f"| {label} | {where} | {args.n_models} x {steps} | {t_loop:.2f} | {t_ens:.2f} | "
            f"{t_loop / t_ens:.1f}x | {c_loop / c_ens:.1f}x | {gap:.1e} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description="fit_ensemble versus a loop of fit")
    parser.add_argument("--problem", choices=["all", "digits", "cubic"], default="all")
    parser.add_argument("--n-models", type=int, default=64)
    parser.add_argument("--steps", type=int, default=100, help="digits steps (cubic: twice as many)")
    parser.add_argument("--widths", type=int, nargs="+", default=[128, 32], help="digits MLP hidden widths")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"median of {args.repeats} runs after one warm-up; same seeds, steps and minibatches on both sides\n")
    print("| problem | device | models x steps | loop of fit, wall (s) | fit_ensemble, wall (s) | "
          "speed-up (wall) | speed-up (CPU time) | max final-loss gap |")
    print("|---|---|---|---|---|---|---|---|")
    digits = [f"digits-{w}" for w in args.widths]
    names = {"all": digits + ["cubic"], "digits": digits, "cubic": ["cubic"]}[args.problem]
    for name in names:
        print(bench(name, args, device), flush=True)


if __name__ == "__main__":
    main()
