"""Benchmark: singdyn's batched trainer against a plain PyTorch loop.

Protocol
--------
The work is Example 1's setting (SPEC section 5), taken from the ``overlap`` preset:
teacher a = 0.2, b = 0, v = 0.3, w = 0.5; n = 100 training points drawn with seed 0;
the Gaussian negative log-likelihood; only a and b train; NetTrain's ADAM
(learning rate 0.1, beta1 0.9, beta2 0.999, epsilon 1e-5 added to the square root of
the uncorrected second moment, bias correction folded into the step); batches of 30;
200 rounds; one batch schedule (``nettrain_schedule(100, 30, 200, seed=0)``) shared by
every run. Start points: 1,000 points drawn uniformly from a in [-1, 1], b in
[-2.5, 2.5] (seed 0), with v = 0.3 and w = 0.5.

Every method does the same work per start point: 200 rounds of 4 updates of 30
examples, and after each round the parameters and the loss over the whole training
set are recorded. A *sample gradient* is one example's gradient in one update, so a
run is 200 x 4 x 30 = 24,000 sample gradients and the 1,000 runs are 2.4e7.

Methods:

1. singdyn batched: ``train()`` on all 1,000 start points at once, float32.
2. PyTorch loop: the paper's Mathematica code ported as a user would, one start point
   at a time: a ``torch.nn.Module`` with parameters a and b, autograd for the
   gradient, and NetTrain's ADAM written by hand (``torch.optim.Adam`` puts epsilon
   elsewhere, so it would not be the same computation). Float32, PyTorch's default
   threads. Timed on a subset of the start points (default 20) and extrapolated per
   sample gradient.
3. singdyn one at a time: ``train()`` with M = 1 called in a Python loop over the same
   subset.

The methods are timed side by side in one process: each repeat times method 1, then
2, then 3, and the report gives the median over the repeats (default 5). Compilation
is excluded: the first call of each singdyn shape and one PyTorch run are made before
timing, and the first call's extra time is reported as compile time. The machine may
be shared with other work, so the report gives the load average, how many cores two
busy threads got just before and after the timing (2.0: both cores free), and each
method's CPU time over its wall time (singdyn spreads blocks of runs over the cores;
the loops use one). The benchmark
checks that the PyTorch loop computes what singdyn computes: final (a, b) of the
subset, and whole histories for two of the paper's start points. Differences are
float32 rounding, amplified where a path passes near the unstable line a = 0.

Run it with ``make bench`` (installs PyTorch, the ``bench`` extra, first). The last
two lines are ``speedup_vs_torch_loop: X`` (method 1's sample gradients per second
over method 2's) and ``sample_grads_per_s: Y`` (method 1's).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import platform
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import singdyn
from singdyn.experiments.config import load_preset
from singdyn.optim import batches_per_round, make_optimizer, nettrain_schedule
from singdyn.pipeline import data_of, loss_of
from singdyn.train import BLOCK_SIZE, train

# The paper's start points for two Example 1 cases whose paths stay away from a = 0.
CHECK_PRESETS = ("fast_convergence", "near_elimination")


def main() -> None:
    options = _parse()
    import torch

    setting = _setting(options.rounds)
    starts = _start_points(options.starts, seed=options.seed)
    subset = starts[: options.subset]
    per_run = options.rounds * setting["batches"] * setting["batch_size"]
    torch_data = _torch_data(setting)
    load_before = os.getloadavg()

    # ---- warm up: compile every singdyn shape, run PyTorch once
    batched, compile_batched = _first_call(lambda: _singdyn(starts, setting))
    _, compile_one = _first_call(lambda: _singdyn(subset[:1], setting))
    if options.float64:
        _, compile_64 = _first_call(lambda: _singdyn(starts, setting, np.float64))
    _torch_run(subset[0], torch_data, setting)

    # ---- timed repeats, the methods side by side
    methods = {
        "singdyn batched, float32": (len(starts), lambda: _singdyn(starts, setting)),
        "PyTorch loop, one start at a time": (
            len(subset),
            lambda: [_torch_run(s, torch_data, setting) for s in subset],
        ),
        "singdyn M = 1 in a Python loop": (
            len(subset),
            lambda: [_singdyn(s[None], setting) for s in subset],
        ),
    }
    if options.float64:
        methods["singdyn batched, float64"] = (
            len(starts),
            lambda: _singdyn(starts, setting, np.float64),
        )
    seconds = {name: [] for name in methods}
    cpu_seconds = {name: [] for name in methods}
    free_before = _free_cores()
    for _ in range(options.repeats):
        for name, (_, run) in methods.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            seconds[name].append(time.perf_counter() - start)
            cpu_seconds[name].append(time.process_time() - start_cpu)
    free_after = _free_cores()
    median = {name: statistics.median(times) for name, times in seconds.items()}
    cores_used = {
        name: statistics.median(cpu_seconds[name]) / median[name] for name in methods
    }
    rate = {name: methods[name][0] * per_run / median[name] for name in methods}
    first_compile = {
        "singdyn batched, float32": compile_batched,
        "singdyn M = 1 in a Python loop": compile_one,
    }
    if options.float64:
        first_compile["singdyn batched, float64"] = compile_64

    # ---- the same work? PyTorch against singdyn
    agreement = _agreement(batched, subset, torch_data, setting)

    # ---- report
    _print_header(
        options, setting, per_run, torch, load_before, (free_before, free_after)
    )
    _print_table(methods, median, seconds, rate, first_compile, cores_used)
    _print_agreement(agreement)
    batched_rate = rate["singdyn batched, float32"]
    torch_rate = rate["PyTorch loop, one start at a time"]
    print(f"speedup_vs_torch_loop: {batched_rate / torch_rate:.0f}")
    print(f"sample_grads_per_s: {batched_rate:.3g}")


def _parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--starts", type=int, default=1000, help="start points")
    parser.add_argument(
        "--subset", type=int, default=20, help="start points of the loops"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats, >= 1")
    parser.add_argument("--rounds", type=int, default=200, help="rounds per run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the start points")
    parser.add_argument(
        "--no-float64",
        dest="float64",
        action="store_false",
        help="skip the float64 row",
    )
    options = parser.parse_args()
    for name in ("starts", "subset", "repeats", "rounds"):
        if getattr(options, name) < 1:
            parser.error(f"--{name} must be >= 1; got {getattr(options, name)}")
    options.subset = min(options.subset, options.starts)
    return options


# --------------------------------------------------------------------------------------
# The setting and the singdyn side
# --------------------------------------------------------------------------------------


def _setting(rounds: int) -> dict:
    """Example 1's data, loss, optimizer and schedule, from the ``overlap`` preset."""
    experiment = load_preset("overlap")
    data = data_of(experiment).train
    batch_size = experiment.train.batch_size
    return {
        "experiment": experiment,
        "data": data,
        "loss": loss_of(experiment),
        "optimizer": make_optimizer(**experiment.optimizer.model_dump()),
        "optimizer_settings": experiment.optimizer.model_dump(),
        "schedule": nettrain_schedule(
            data.size, batch_size, rounds, seed=experiment.schedule_seed
        ),
        "batches": batches_per_round(data.size, batch_size),
        "batch_size": batch_size,
        "rounds": rounds,
        "v": experiment.start_flat()[2],
        "w": experiment.start_flat()[3],
    }


def _start_points(count: int, *, seed: int) -> np.ndarray:
    """``(count, 4)`` flat xi start points, a and b uniform, v = 0.3, w = 0.5."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-1.0, 1.0, count)
    b = rng.uniform(-2.5, 2.5, count)
    return np.column_stack([a, b, np.full(count, 0.3), np.full(count, 0.5)])


def _singdyn(starts: np.ndarray, setting: dict, dtype=np.float32):
    return train(
        starts,
        setting["data"],
        setting["schedule"],
        bias=False,
        loss=setting["loss"],
        optimizer=setting["optimizer"],
        trainable=("a", "b"),
        dtype=dtype,
    )


def _free_cores(seconds: float = 0.3) -> float:
    """How many cores two busy threads get right now (1.0 to 2.0): the speed of two
    threads hashing at once over that of one (hashlib releases the GIL). The machine
    may be shared; this says how much of its second core the benchmark could use."""
    block = b"x" * (1 << 20)

    def spin(stop: float) -> int:
        count = 0
        while time.perf_counter() < stop:
            hashlib.sha256(block).digest()
            count += 1
        return count

    one = spin(time.perf_counter() + seconds)
    with ThreadPoolExecutor(2) as pool:
        stop = time.perf_counter() + seconds
        two = sum(pool.map(spin, [stop, stop]))
    return two / max(one, 1)


def _first_call(run) -> tuple[object, float]:
    """Call ``run`` once untimed-by-median; return its result and the time of the
    first call minus that of a second (an estimate of the compile time)."""
    start = time.perf_counter()
    result = run()
    first = time.perf_counter() - start
    start = time.perf_counter()
    run()
    second = time.perf_counter() - start
    return result, max(first - second, 0.0)


# --------------------------------------------------------------------------------------
# The PyTorch loop
# --------------------------------------------------------------------------------------


def _torch_data(setting: dict) -> dict:
    import torch

    data = setting["data"]
    return {
        "x": torch.tensor(data.x, dtype=torch.float32),
        "y": torch.tensor(data.y, dtype=torch.float32),
        "schedule": torch.tensor(setting["schedule"], dtype=torch.int64),
    }


def _torch_net(a: float, b: float, v: float, w: float):
    import torch

    class TwoUnitNet(torch.nn.Module):
        """f(x) = w31 tanh(u1 x) + w32 tanh(u2 x) built from (a, b, v, w), as the
        paper's NetGraph builds it; a and b train, v and w are constants."""

        def __init__(self):
            super().__init__()
            self.a = torch.nn.Parameter(torch.tensor(a, dtype=torch.float32))
            self.b = torch.nn.Parameter(torch.tensor(b, dtype=torch.float32))
            self.register_buffer("v", torch.tensor(v, dtype=torch.float32))
            self.register_buffer("w", torch.tensor(w, dtype=torch.float32))

        def forward(self, x):
            u1 = self.v + self.a * (self.b - 1) / 2
            u2 = self.v + self.a * (self.b + 1) / 2
            w31 = self.w * (1 + self.b) / 2
            w32 = self.w * (1 - self.b) / 2
            return w31 * torch.tanh(u1 * x) + w32 * torch.tanh(u2 * x)

    return TwoUnitNet()


def _torch_run(start: np.ndarray, data: dict, setting: dict):
    """One run: NetTrain's ADAM by hand, per-round parameters and losses.

    Returns ``(R + 1, 2)`` (a, b) per round, ``(R,)`` round losses and ``(R + 1,)``
    losses over the whole training set, as NumPy arrays.
    """
    import torch

    settings = setting["optimizer_settings"]
    lr, beta1, beta2 = settings["learning_rate"], settings["beta1"], settings["beta2"]
    eps = settings["eps"]
    constant = 0.5 * math.log(2 * math.pi)

    def loss_fn(f, y):  # the Gaussian NLL with variance 1, batch mean
        return (0.5 * (y - f) ** 2 + constant).mean()

    net = _torch_net(*(float(value) for value in start))
    params = [net.a, net.b]
    first = [torch.zeros_like(p) for p in params]
    second = [torch.zeros_like(p) for p in params]
    x, y, step = data["x"], data["y"], 0
    with torch.no_grad():
        path = [torch.stack([net.a, net.b]).clone()]
        full = [loss_fn(net(x), y)]
    round_losses = []
    for batches in data["schedule"]:
        batch_losses = []
        for batch in batches:
            loss = loss_fn(net(x[batch]), y[batch])
            for p in params:
                p.grad = None
            loss.backward()
            step += 1
            scale = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
            with torch.no_grad():
                for p, m, s in zip(params, first, second, strict=True):
                    m.mul_(beta1).add_(p.grad, alpha=1 - beta1)
                    s.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
                    p.sub_(scale * m / (s.sqrt() + eps))
            batch_losses.append(loss.detach())
        with torch.no_grad():
            round_losses.append(torch.stack(batch_losses).mean())
            path.append(torch.stack([net.a, net.b]).clone())
            full.append(loss_fn(net(x), y))
    return (
        torch.stack(path).numpy(),
        torch.stack(round_losses).numpy(),
        torch.stack(full).numpy(),
    )


def _agreement(batched, subset, torch_data, setting) -> dict:
    """How far the PyTorch loop lands from singdyn on the same start points."""
    final = np.array([_torch_run(s, torch_data, setting)[0][-1] for s in subset])
    gap = np.abs(final - batched.params[: len(subset), -1, :2]).max(axis=1)
    checks = {}
    for name in CHECK_PRESETS:
        start = load_preset(name).start_flat()
        start = np.array([start[0], start[1], setting["v"], setting["w"]])
        path, round_loss, full = _torch_run(start, torch_data, setting)
        ours = _singdyn(start[None], setting)
        checks[name] = (
            start[:2],
            np.abs(path - ours.params[0, :, :2]).max(),
            np.abs(round_loss - ours.round_loss[0]).max(),
            np.abs(full - ours.train_loss[0]).max(),
        )
    return {"final_gap": gap, "checks": checks}


# --------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------


def _print_header(options, setting, per_run, torch, load_before, free) -> None:
    import jax

    print("singdyn training benchmark (protocol: top of benchmarks/bench_train.py)")
    print(
        f"  machine: {platform.processor() or platform.machine()}, "
        f"{len(os.sched_getaffinity(0))} usable cores; load average before "
        f"{load_before[0]:.1f}, after {os.getloadavg()[0]:.1f}; cores free to two "
        f"busy threads before and after the timing: {free[0]:.1f}, {free[1]:.1f}"
    )
    print(
        f"  singdyn {singdyn.__version__}, jax {jax.__version__}, "
        f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"numpy {np.__version__}"
    )
    print(
        f"  work per start point: {options.rounds} rounds x {setting['batches']} "
        f"batches x {setting['batch_size']} examples = {per_run:,} sample gradients; "
        f"singdyn blocks of {BLOCK_SIZE} runs"
    )
    print(
        f"  {options.starts} start points (loops: the first {options.subset}), "
        f"median of {options.repeats} repeats"
    )
    print()


def _print_table(methods, median, seconds, rate, first_compile, cores_used) -> None:
    reference = rate["singdyn batched, float32"]
    header = (
        f"{'method':34s} {'starts':>6s} {'median s':>9s} {'min..max s':>13s} "
        f"{'cores':>5s} {'s / start':>9s} {'sample grads/s':>14s} "
        f"{'batched is x':>12s} {'compile s':>9s}"
    )
    print(header)
    print("-" * len(header))
    for name, (count, _) in methods.items():
        low, high = min(seconds[name]), max(seconds[name])
        compile_time = first_compile.get(name)
        compile_text = "-" if compile_time is None else f"{compile_time:.2f}"
        print(
            f"{name:34s} {count:6d} {median[name]:9.3f} "
            f"{f'{low:.3f}..{high:.3f}':>13s} {cores_used[name]:5.2f} "
            f"{median[name] / count:9.2e} {rate[name]:14.3g} "
            f"{reference / rate[name]:12.1f} {compile_text:>9s}"
        )
    print("(cores: process CPU time over wall time, the median repeat)")
    print()


def _print_agreement(agreement) -> None:
    gap = agreement["final_gap"]
    print(
        "PyTorch loop against singdyn (float32, same start points): final (a, b) "
        f"differ by at most {gap.max():.2e} (median {np.median(gap):.2e}) over "
        f"{gap.size} start points"
    )
    for name, (start, path, round_loss, full) in agreement["checks"].items():
        print(
            f"  {name} from (a, b) = ({start[0]:g}, {start[1]:g}): max |difference| "
            f"of (a, b) over all rounds {path:.2e}, of round losses {round_loss:.2e}, "
            f"of training-set losses {full:.2e}"
        )
    print()


if __name__ == "__main__":
    main()
