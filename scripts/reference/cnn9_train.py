#!/usr/bin/python3
"""Plain PyTorch training of CNN9 on log-mel .npy files: the peer `avgraph train` is measured against.

The network is nodes/models/networks.cpp's Cnn9 (Kong et al.'s CNN9 with average pooling) and the recipe is
the reference one, REFERENCE_RECIPE in scripts/bench-train: batch 32, shuffled; a circular time shift of
each clip by a uniform integer in [-floor(0.25 T), floor(0.25 T)] frames; mixup with lambda ~ Beta(1, 1) per
clip and a random permutation of the batch as partners, soft targets, loss = KL(target || softmax) summed
over classes and averaged over the batch; Adam, lr 1e-3, cosine decay to 0 over all the steps.

    /usr/bin/python3 scripts/reference/cnn9_train.py --list train.csv [--test test.csv] [--epochs N]
                     [--batch 32] [--threads T] [--seed S] [--precision fp32|bf16]
                     [--channels-last | --no-channels-last] [--max-steps N]

A list is a CSV of `path,label` rows (a header row `path,label` is allowed); each path is a float32 .npy of
one clip's log-mel, [64, T] or [1, 64, T] (as `avgraph run` writes it), relative to the CSV's folder or
absolute; labels are class names or indices. A few ESC-10 clips are not 5 s long (228 to 453 frames instead
of 313), so every clip is cropped or padded to --frames frames.

--precision bf16 runs the forward pass under torch.autocast("cpu", dtype=torch.bfloat16) (the backward pass
follows the dtypes autocast chose); the loss, KL on log_softmax, is computed in float32 outside autocast from
logits.float(), and the weights, gradients and Adam state stay float32: what autocast does. The evaluation on
--test runs under the same autocast. On a CPU without native bf16 (no avx512_bf16 / amx_bf16 flag) bf16 is
emulated and many times slower than float32; --max-steps keeps such runs short.

The model and every batch are in channels-last memory format (model.to(memory_format=torch.channels_last),
input .contiguous(memory_format=torch.channels_last)) by default, as avgraph runs CNN9 on the CPU;
--no-channels-last gives PyTorch's default contiguous (NCHW) layout.

--max-steps N (default 0: no limit) stops each epoch after N optimizer steps; the cosine schedule then spans
epochs * min(N, steps per epoch) steps, and the samples/s, loss and accuracy count only the samples trained.

Prints one JSON line per epoch (with "precision", "steps" and "samples") and a final JSON line
{"samples_per_second": ..., "epochs": ..., "threads": ..., "batch": ..., "torch": ..., "precision": ...,
"channels_last": ..., "max_steps": ...}.

samples_per_second counts only the forward pass, the backward pass and the optimizer step: all features are
loaded into memory before training (as avgraph's "cache": "memory" does), and the batch assembly, the
augmentation and the evaluation on --test are outside the timed span. The final figure is the mean over the
epochs after the first (the first also pays for one-off allocations), or the only epoch's when --epochs 1.
"""
import argparse
import contextlib
import csv
import json
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock(nn.Module):
    """n x [conv 3x3, stride 1, padding 1, no bias -> BatchNorm -> ReLU], named as in Kong's code."""

    def __init__(self, in_channels, out_channels, n_convs=2):
        super().__init__()
        for i in range(n_convs):
            setattr(self, f"conv{i + 1}", nn.Conv2d(in_channels if i == 0 else out_channels, out_channels,
                                                    kernel_size=3, stride=1, padding=1, bias=False))
            setattr(self, f"bn{i + 1}", nn.BatchNorm2d(out_channels))
        self.n_convs = n_convs

    def forward(self, x):
        for i in range(self.n_convs):
            x = F.relu(getattr(self, f"bn{i + 1}")(getattr(self, f"conv{i + 1}")(x)))
        return x


class Cnn9(nn.Module):
    """Kong et al.'s CNN9: blocks of widths 32/64/128/256, 2x2 average pooling after the first three, mean
    over mel bins, max over frames, dropout, one linear layer (logits)."""

    def __init__(self, n_classes, in_channels=1, widths=(32, 64, 128, 256), dropout=0.3):
        super().__init__()
        channels = in_channels
        for i, w in enumerate(widths):
            setattr(self, f"conv_block{i + 1}", ConvBlock(channels, w))
            channels = w
        self.n_blocks = len(widths)
        self.dropout = dropout
        self.fc = nn.Linear(channels, n_classes)
        for m in self.modules():  # Kong's init_layer: Xavier-uniform weights, zero biases
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    m.bias.data.zero_()

    def forward(self, x):  # x: [batch, 1, mels, frames]
        for i in range(self.n_blocks):
            x = getattr(self, f"conv_block{i + 1}")(x)
            if i + 1 < self.n_blocks:  # Kong's fourth pooling is 1x1: the identity
                x = F.avg_pool2d(x, 2)
        x = x.mean(dim=2).max(dim=2).values  # mean over bins, then max over frames
        x = F.dropout(x, p=self.dropout, training=self.training)
        return self.fc(x)


def fit_frames(x, frames):
    """The first `frames` frames of a longer clip; a shorter one padded at the end with its quietest value,
    which stands for the silence of zero-padded audio (Kong pads or truncates the audio to 5 s)."""
    n = x.shape[-1]
    if n >= frames:
        return x[..., :frames].contiguous()
    return F.pad(x, (0, frames - n), value=float(x.min()))


def read_list(path, classes=None, frames=0):
    """Features [N, 1, mels, frames] and label indices [N] of a path,label CSV."""
    path = pathlib.Path(path)
    rows = []
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if not row or row[0].startswith("#") or row == ["path", "label"]:
                continue
            if len(row) != 2:
                sys.exit(f"cnn9_train: {path}: expected rows `path,label`, found {row}")
            rows.append(row)
    if not rows:
        sys.exit(f"cnn9_train: {path}: no rows")
    if classes is None:
        labels = sorted({r[1] for r in rows}, key=lambda s: (not s.isdigit(), int(s) if s.isdigit() else 0, s))
        classes = {name: i for i, name in enumerate(labels)}
    features = []
    for file, _ in rows:
        file = pathlib.Path(file)
        x = np.load(file if file.is_absolute() else path.parent / file).astype(np.float32)
        if x.ndim == 2:
            x = x[None]
        if x.ndim != 3 or x.shape[0] != 1:
            sys.exit(f"cnn9_train: {file}: expected a log-mel [mels, frames] or [1, mels, frames], "
                     f"found shape {list(x.shape)}")
        features.append(torch.from_numpy(x))
    if frames > 0:
        features = [fit_frames(x, frames) for x in features]
    shapes = {tuple(x.shape) for x in features}
    if len(shapes) != 1:
        sys.exit(f"cnn9_train: {path}: clips of different shapes {sorted(shapes)}; give --frames N to crop "
                 "or pad them to N frames")
    missing = sorted({r[1] for r in rows} - set(classes))
    if missing:
        sys.exit(f"cnn9_train: {path}: labels not in the training list: {missing}")
    return torch.stack(features), torch.tensor([classes[r[1]] for r in rows]), classes


def augment(x, y, n_classes, time_shift, mixup_alpha, generator):
    """Circular time shift per clip, then mixup with soft targets."""
    batch, frames = x.shape[0], x.shape[-1]
    if time_shift > 0:
        limit = math.floor(time_shift * frames)
        shifts = torch.randint(-limit, limit + 1, (batch,), generator=generator)
        x = torch.stack([torch.roll(x[b], int(shifts[b]), dims=-1) for b in range(batch)])
    target = F.one_hot(y, n_classes).float()
    if mixup_alpha > 0:
        beta = torch.distributions.Beta(mixup_alpha, mixup_alpha)
        # Beta.sample takes no generator; it draws from the global one, which main seeds.
        lam = beta.sample((batch,))
        partner = torch.randperm(batch, generator=generator)
        x = lam.view(-1, 1, 1, 1) * x + (1 - lam.view(-1, 1, 1, 1)) * x[partner]
        target = lam.view(-1, 1) * target + (1 - lam.view(-1, 1)) * target[partner]
    return x, target


def evaluate(model, x, y, batch, precision, memory_format):
    model.eval()
    correct, loss = 0, 0.0
    with torch.inference_mode():
        for start in range(0, len(x), batch):
            with autocast(precision):
                logits = model(x[start:start + batch].contiguous(memory_format=memory_format))
            logits = logits.float()
            loss += F.cross_entropy(logits, y[start:start + batch], reduction="sum").item()
            correct += (logits.argmax(dim=1) == y[start:start + batch]).sum().item()
    return loss / len(x), correct / len(x)


def autocast(precision):
    """The forward pass's context: bf16 autocast on the CPU, or nothing for float32."""
    if precision == "bf16":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", required=True, help="training CSV: path,label")
    parser.add_argument("--test", help="test CSV: path,label (accuracy after each epoch)")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--frames", type=int, default=313,
                        help="crop or pad every clip to this many frames; 0: they must be equal already "
                             "(default 313: 5 s at 16 kHz, hop 256, as ESC-10's clips)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--mixup-alpha", type=float, default=1.0)
    parser.add_argument("--time-shift", type=float, default=0.25)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32",
                        help="fp32, or bf16: the forward pass under CPU autocast to bfloat16, the loss, weights "
                             "and Adam state in float32 (default fp32)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=True,
                        help="model and input in channels-last memory format, as avgraph runs CNN9 on the CPU "
                             "(default: on)")
    parser.add_argument("--max-steps", type=int, default=0,
                        help="stop each epoch after this many steps; 0: no limit (default 0)")
    args = parser.parse_args()
    if args.epochs < 1 or args.batch < 1 or args.threads < 1:
        sys.exit("cnn9_train: --epochs, --batch and --threads must be at least 1")
    if args.max_steps < 0:
        sys.exit("cnn9_train: --max-steps must be at least 0")
    memory_format = torch.channels_last if args.channels_last else torch.contiguous_format

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    generator = torch.Generator().manual_seed(args.seed)
    x_train, y_train, classes = read_list(args.list, frames=args.frames)
    test = read_list(args.test, classes, args.frames) if args.test else None
    n_classes = len(classes)

    model = Cnn9(n_classes).to(memory_format=memory_format)  # float32 weights in either precision
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps_per_epoch = math.ceil(len(x_train) / args.batch)
    if args.max_steps > 0:
        steps_per_epoch = min(steps_per_epoch, args.max_steps)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs * steps_per_epoch)
    kl = nn.KLDivLoss(reduction="batchmean")

    rates = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        epoch_start = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        order = torch.randperm(len(x_train), generator=generator)
        compute_seconds, loss_sum, correct, samples, steps = 0.0, 0.0, 0, 0, 0
        for start in range(0, len(order), args.batch):
            if steps == steps_per_epoch:  # --max-steps
                break
            index = order[start:start + args.batch]
            x, target = augment(x_train[index], y_train[index], n_classes, args.time_shift, args.mixup_alpha,
                                generator)
            x = x.contiguous(memory_format=memory_format)
            step_start = time.perf_counter()  # timed: forward, backward, optimizer step
            with autocast(args.precision):
                logits = model(x)
            # The loss in float32, outside autocast.
            loss = kl(F.log_softmax(logits.float(), dim=1), target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            compute_seconds += time.perf_counter() - step_start
            schedule.step()
            loss_sum += loss.item() * len(index)
            correct += (logits.detach().argmax(dim=1) == y_train[index]).sum().item()
            samples += len(index)
            steps += 1
        rate = samples / compute_seconds
        rates.append(rate)
        line = {"epoch": epoch, "precision": args.precision, "train_loss": loss_sum / samples,
                "train_accuracy": correct / samples, "lr": lr, "seconds": time.perf_counter() - epoch_start,
                "steps": steps, "samples": samples, "samples_per_second": rate}
        if test is not None:
            line["test_loss"], line["test_accuracy"] = evaluate(model, test[0], test[1], args.batch,
                                                                args.precision, memory_format)
        print(json.dumps(line), flush=True)

    steady = rates[1:] or rates
    print(json.dumps({"samples_per_second": sum(steady) / len(steady), "epochs": args.epochs,
                      "threads": args.threads, "batch": args.batch, "torch": torch.__version__,
                      "precision": args.precision, "channels_last": args.channels_last,
                      "max_steps": args.max_steps}), flush=True)


if __name__ == "__main__":
    main()
