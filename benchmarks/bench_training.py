"""Training throughput of the trained recommenders, against the published code's way.

    python benchmarks/bench_training.py            # ≈20k users, ≈50k items, ≈1M positives, d = 200 and 1024
    python benchmarks/bench_training.py --quick    # a small smoke run

Data: a generated listening log of realistic shape (Zipf-like item popularity, log-normal
history lengths) and random item embeddings. Every case runs in its own process (so peak
memory is its own) through the real training loop for a fixed number of steps; the first
step is warm-up and is not timed.

Cases, each with the published code's way as the baseline of its ratio:
* Shallow Net (sample_type item, 20 negatives, batch 10 000 positives): ours draws
  positives and negatives as device tensors and projects each distinct row once; the
  baseline loads rows one at a time through a DataLoader (``DataFrame.iloc`` per row) and
  projects every gathered row. Unit: positives per second.
* BERT4Rec (max_seq_len 50, batch 128, 2 layers, 2 heads, 256 intermediate, hidden = d):
  ours computes logits only at the masked positions; the baseline computes full-catalogue
  logits at every position and ignores the unmasked ones in the loss. Unit: sequences/s.

On a machine with CUDA every case is repeated there (mixed precision, as the loop runs it),
with the GPU named and ``torch.cuda.max_memory_allocated`` reported.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import time

import numpy as np

# Batches are the paper's (10 000 positives, 128 sequences); --quick shrinks data and batches.
FULL = {
    "n_users": 20_000,
    "n_items": 50_000,
    "positives": 1_000_000,
    "dims": [200, 1024],
    "batch": {"shallow": 10_000, "bert4rec": 128},
}
QUICK = {
    "n_users": 2_000,
    "n_items": 5_000,
    "positives": 100_000,
    "dims": [200, 1024],
    "batch": {"shallow": 1_000, "bert4rec": 32},
}
STEPS = {  # timed steps (plus one warm-up) per case and device
    ("shallow", "ours"): {"cpu": 4, "cuda": 30},
    ("shallow", "baseline"): {"cpu": 1, "cuda": 3},
    ("bert4rec", "ours"): {"cpu": 3, "cuda": 30},
    ("bert4rec", "baseline"): {"cpu": 1, "cuda": 10},
}
QUICK_STEPS = {"cpu": 2, "cuda": 5}


def generate(n_users: int, n_items: int, positives: int, dim: int, seed: int = 0):
    """A listening log of realistic shape as :class:`Interactions`, and embeddings (n_items, dim)."""
    from musicrec.recommenders.inputs import Interactions

    rng = np.random.default_rng(seed)
    lengths = rng.lognormal(mean=np.log(positives / n_users) - 0.5, sigma=1.0, size=n_users)
    lengths = np.clip(np.round(lengths * positives / lengths.sum()), 5, 2_000).astype(np.int64)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    users = np.repeat(np.arange(n_users), lengths)
    items = rng.permutation(n_items)[rng.choice(n_items, size=len(users), p=popularity)]
    pairs = np.unique(users * n_items + items)  # one row per (user, item), ordered by user
    users, items = pairs // n_items, pairs % n_items
    order = np.lexsort((rng.random(len(users)), users))  # a random listening order per user
    users, items = users[order], items[order]
    val_users = rng.choice(n_users, size=min(1_000, n_users), replace=False)
    interactions = Interactions(
        user_ids=np.array([f"u{u}" for u in range(n_users)], dtype=object),
        train_user=users,
        train_item=items,
        train_count=rng.geometric(0.3, size=len(users)).astype(np.float32),
        val_user=np.sort(val_users),
        val_item=rng.choice(n_items, size=len(val_users), p=popularity),
        val_count=np.ones(len(val_users), dtype=np.float32),
        target_users=np.sort(val_users),
        item_is_usable=np.ones(n_items, dtype=bool),
        item_is_candidate=np.ones(n_items, dtype=bool),
    )
    embeddings = rng.standard_normal((n_items, dim), dtype=np.float32)
    return interactions, embeddings


class FixedSteps:
    """Runs a task's first ``steps`` batches as one epoch, with no validation work."""

    def __init__(self, task, steps: int) -> None:
        self.task, self.steps = task, steps
        self.model, self.device = task.model, task.device

    def n_train_batches(self) -> int:
        return self.steps

    def train_batches(self, generator):
        return itertools.islice(self.task.train_batches(generator), self.steps)

    def train_loss(self, batch):
        return self.task.train_loss(batch)

    def validation_loss(self) -> float:
        return 0.0


def shallow_task(case: dict, interactions, embeddings, device):
    import torch
    import torch.nn.functional as F
    from torch.utils.data import DataLoader, Dataset

    from musicrec.recommenders.shallow_training import ShallowTask, build_shallow_model, shallow_options

    options = shallow_options({"batch_size": case["batch"]})  # else the paper's: item sampling, 20 negatives
    model = build_shallow_model("embedding", embeddings, interactions, options, seed=0)
    task = ShallowTask(model, interactions, options, device, seed=0)
    if case["variant"] == "ours":
        return task, options.batch_size

    class RowByRow(Dataset):
        """The published loader: one DataFrame row per __getitem__, collated by the DataLoader."""

        def __init__(self) -> None:
            import pandas as pd

            self.frame = pd.DataFrame(
                {"item": interactions.train_item, "user": interactions.train_user, "count": interactions.train_count}
            )

        def __len__(self) -> int:
            return len(self.frame)

        def __getitem__(self, index):
            row = self.frame.iloc[index]
            return torch.tensor(int(row["item"])), torch.tensor(int(row["user"])), torch.tensor(float(row["count"]))

    class PaperStyle:
        """Negatives drawn per batch on the host; every gathered row projected."""

        def __init__(self) -> None:
            self.model, self.device = model, device
            self.loader = DataLoader(RowByRow(), batch_size=options.batch_size, shuffle=True)

        def n_train_batches(self) -> int:
            return len(self.loader)

        def train_batches(self, generator):
            for item, user, _ in self.loader:
                k = options.neg_samples
                negatives = torch.randint(0, interactions.n_users, (len(user) * k,))
                yield item.repeat_interleave(k).to(device), user.repeat_interleave(k).to(device), negatives.to(device)

        def train_loss(self, batch):
            items, users, negatives = batch

            def score(user_index, item_index):
                project = model.projection
                return F.cosine_similarity(project(model.users(user_index)), project(model.items(item_index)))

            margin = options.margin - score(users, items) + score(negatives, items)
            return torch.clamp(margin, min=0).mean()

        def validation_loss(self) -> float:
            return 0.0

    return PaperStyle(), options.batch_size


def bert4rec_task(case: dict, interactions, embeddings, device):
    import torch.nn.functional as F

    from musicrec.recommenders.bert4rec_training import Bert4RecTask, bert4rec_options, build_bert4rec_model

    options = bert4rec_options({"batch_size": case["batch"]})  # else the paper's: 50 slots, 2 layers, 2 heads
    model = build_bert4rec_model(embeddings, options, seed=0)
    task = Bert4RecTask(model, interactions, options, device, options.max_seq_len)
    if case["variant"] == "baseline":

        def full_vocabulary_loss(batch):
            inputs, labels, is_masked = batch
            logits = model(inputs) @ model.output_item_table().t()  # (B, L, n_items): every position
            targets = labels.masked_fill(~is_masked, -100)
            return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)

        task.train_loss = full_vocabulary_loss
    return task, options.batch_size


def run_case(case: dict) -> dict:
    """One benchmark case in this process: time the loop over a fixed number of steps."""
    import torch

    from musicrec.recommenders.training import LoopSettings, train

    device = torch.device(case["device"])
    interactions, embeddings = generate(case["n_users"], case["n_items"], case["positives"], case["dim"])
    builder = shallow_task if case["model"] == "shallow" else bert4rec_task
    task, batch_size = builder(case, interactions, embeddings, device)
    stamps = []

    def on_step(epoch: int, step: int) -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()
        stamps.append(time.perf_counter())

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    train(FixedSteps(task, case["steps"] + 1), LoopSettings(max_epochs=1), on_step=on_step, progress=False)
    seconds = stamps[-1] - stamps[0]
    result = {
        **case,
        "positives": int(len(interactions.train_user)),
        "per_second": case["steps"] * batch_size / seconds,
        "seconds_per_step": seconds / case["steps"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device.type == "cuda":
        result["peak_cuda_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["gpu"] = torch.cuda.get_device_name()
    return result


def cases(quick: bool, devices: list[str]) -> list[dict]:
    shape = QUICK if quick else FULL
    planned = []
    for device, dim, model, variant in itertools.product(
        devices, shape["dims"], ("shallow", "bert4rec"), ("ours", "baseline")
    ):
        steps = QUICK_STEPS[device] if quick else STEPS[(model, variant)][device]
        planned.append(
            {
                "model": model,
                "variant": variant,
                "device": device,
                "dim": dim,
                "steps": steps,
                "batch": shape["batch"][model],
                "n_users": shape["n_users"],
                "n_items": shape["n_items"],
                "positives": shape["positives"],
            }
        )
    return planned


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small data and few steps (a smoke run)")
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda rows run only where available")
    parser.add_argument("--only", choices=["shallow", "bert4rec"], help="run one model's cases")
    parser.add_argument("--case", help=argparse.SUPPRESS)  # internal: run one case, print JSON
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(json.loads(args.case))))
        return

    import torch

    wanted = args.devices.split(",")
    devices = [d for d in ("cpu", "cuda") if d in wanted and (d == "cpu" or torch.cuda.is_available())]
    results = []
    for case in cases(args.quick, devices):
        if args.only and case["model"] != args.only:
            continue
        started = time.perf_counter()
        child = subprocess.run([sys.executable, __file__, "--case", json.dumps(case)], capture_output=True, text=True)
        if child.returncode != 0:
            print(child.stderr[-3000:], file=sys.stderr)
            raise SystemExit(f"case {case} failed")
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(
            f"  done {case['model']} {case['variant']} {case['device']} d={case['dim']} "
            f"in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )

    gpu = next((r["gpu"] for r in results if "gpu" in r), None)
    shape = QUICK if args.quick else FULL
    print(
        f"\nTraining throughput: {shape['n_users']} users, {shape['n_items']} items, "
        f"{results[0]['positives']} train positives; torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads" + (f"; GPU {gpu}" if gpu else "")
    )
    header = (
        f"{'model':<9} {'way':<9} {'device':<6} {'d':>5} {'batch':>6} {'steps':>5} {'s/step':>8} "
        f"{'throughput':>22} {'vs baseline':>11} {'peak RSS MB':>11} {'peak CUDA MB':>12}"
    )
    print(header)
    print("-" * len(header))
    unit = {"shallow": "positives/s", "bert4rec": "sequences/s"}
    for row in results:
        baseline = next(
            r
            for r in results
            if (r["model"], r["device"], r["dim"], r["variant"])
            == (row["model"], row["device"], row["dim"], "baseline")
        )
        ratio = row["per_second"] / baseline["per_second"]
        way = "ours" if row["variant"] == "ours" else "paper"
        cuda = f"{row['peak_cuda_mb']:.0f}" if "peak_cuda_mb" in row else "-"
        print(
            f"{row['model']:<9} {way:<9} {row['device']:<6} {row['dim']:>5} {row['batch']:>6} {row['steps']:>5} "
            f"{row['seconds_per_step']:>8.3f} {row['per_second']:>10.0f} {unit[row['model']]:<11} "
            f"{ratio:>10.1f}x {row['peak_rss_mb']:>11.0f} {cuda:>12}"
        )
    if "cuda" in wanted and "cuda" not in devices:
        print("(no CUDA device here: no GPU rows)")


if __name__ == "__main__":
    main()
