#!/usr/bin/python3
"""Independent reference for the model nodes: the same networks written in Python PyTorch.

Usage: pytorch_reference.py OUT_DIR

Builds CNN9 (Kong et al., DCASE 2019 Cnn_9layers_AvgPooling, in the [batch, channel, bin, frame]
layout; and as cnn9_panns with PANNs' bn0 and max + mean pooling over frames), the VGG14-like
classifier and the embedding MLP of Pham et al. and Chen et al.'s res-DCNN acoustic encoder (frame
embeddings [batch, frame, F]) with small widths, gives every parameter and batch-norm statistic
random values, and writes for each NAME:
  NAME.pt             the weights, as torch.jit.script(net).save (a LibTorch archive)
  NAME_in.npy         a random input
  NAME_eval.npy       the logits (res_dcnn: the embeddings) in eval mode
  NAME_train.npy      the same in training mode (dropout 0: batch statistics in batch norm)
  NAME_{eval,train}_bf16.npy  cnn9 only: both under torch.autocast("cpu", dtype=torch.bfloat16)
and for models.torchscript a scripted module of its own (encoder.pt, encoder_in.npy, encoder_out.npy).
"""
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class ConvBlock2(nn.Module):
    """Kong's ConvBlock: two [conv 3x3 (no bias), batch norm, ReLU]."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class ConvBlock4(ConvBlock2):
    """Four of them, for the deeper blocks of VGG14."""

    def __init__(self, cin, cout):
        super().__init__(cin, cout)
        self.conv3 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.conv4 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn4 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        return F.relu(self.bn4(self.conv4(x)))


class Cnn9(nn.Module):
    def __init__(self, cin, widths, classes):
        super().__init__()
        self.conv_block1 = ConvBlock2(cin, widths[0])
        self.conv_block2 = ConvBlock2(widths[0], widths[1])
        self.conv_block3 = ConvBlock2(widths[1], widths[2])
        self.conv_block4 = ConvBlock2(widths[2], widths[3])
        self.fc = nn.Linear(widths[3], classes)

    def blocks(self, x):
        x = F.avg_pool2d(self.conv_block1(x), 2)
        x = F.avg_pool2d(self.conv_block2(x), 2)
        x = F.avg_pool2d(self.conv_block3(x), 2)
        return self.conv_block4(x)

    def forward(self, x):
        x = torch.mean(self.blocks(x), dim=2)  # over bins
        x, _ = torch.max(x, dim=2)  # over frames
        return self.fc(x)


class Cnn9Panns(Cnn9):
    """CNN9 with two options from Kong's PANNs (Cnn14 and kin): bn0, a batch norm of each input bin,
    and max + mean pooling over frames."""

    def __init__(self, cin, bins, widths, classes):
        super().__init__(cin, widths, classes)
        self.bn0 = nn.BatchNorm2d(bins)

    def forward(self, x):
        x = self.bn0(x.transpose(1, 2)).transpose(1, 2)  # the bins as batch-norm channels
        x = torch.mean(self.blocks(x), dim=2)  # over bins
        x1, _ = torch.max(x, dim=2)  # over frames
        x2 = torch.mean(x, dim=2)
        return self.fc(x1 + x2)


class Vgg14(nn.Module):
    def __init__(self, cin, widths, fc_width, classes):
        super().__init__()
        self.conv_block1 = ConvBlock2(cin, widths[0])
        self.conv_block2 = ConvBlock2(widths[0], widths[1])
        self.conv_block3 = ConvBlock4(widths[1], widths[2])
        self.conv_block4 = ConvBlock4(widths[2], widths[3])
        self.fc1 = nn.Linear(widths[3], fc_width)
        self.fc = nn.Linear(fc_width, classes)

    def forward(self, x):
        x = F.avg_pool2d(self.conv_block1(x), 2)
        x = F.avg_pool2d(self.conv_block2(x), 2)
        x = F.avg_pool2d(self.conv_block3(x), 2)
        x = self.conv_block4(x)
        x = x.mean(dim=(2, 3))
        return self.fc(F.relu(self.fc1(x)))


class EmbeddingMlp(nn.Module):
    def __init__(self, features, hidden, classes):
        super().__init__()
        self.fc1 = nn.Linear(features, hidden[0])
        self.bn1 = nn.BatchNorm1d(hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.bn2 = nn.BatchNorm1d(hidden[1])
        self.fc = nn.Linear(hidden[1], classes)

    def forward(self, x):
        x = F.relu(self.bn1(self.fc1(x)))
        x = F.relu(self.bn2(self.fc2(x)))
        return self.fc(x)


class ResBlock1d(nn.Module):
    """res-DCNN block along the bins: conv k3 (no padding) + 1x1 shortcut cropped to the same length,
    batch norm, ReLU, average pooling 2."""

    def __init__(self, cin, cout):
        super().__init__()
        self.conv = nn.Conv1d(cin, cout, 3, bias=False)
        self.shortcut = nn.Conv1d(cin, cout, 1, bias=False)
        self.bn = nn.BatchNorm1d(cout)

    def forward(self, x):
        y = self.conv(x) + self.shortcut(x)[:, :, 1:-1]
        return F.avg_pool1d(F.relu(self.bn(y)), 2, stride=2)


class ResDcnn(nn.Module):
    """Chen et al.'s acoustic encoder on [batch, channel, bin, frame], one embedding per frame."""

    def __init__(self, cin, bins, widths, hidden):
        super().__init__()
        self.block1 = ResBlock1d(cin, widths[0])
        self.block2 = ResBlock1d(widths[0], widths[1])
        self.block3 = ResBlock1d(widths[1], widths[2])
        self.block4 = ResBlock1d(widths[2], widths[3])
        length = bins
        for _ in range(4):
            length = (length - 2) // 2
        self.fc1 = nn.Linear(widths[3] * length + cin * bins, hidden[0])
        self.bn1 = nn.BatchNorm1d(hidden[0])
        self.fc2 = nn.Linear(hidden[0], hidden[1])
        self.bn2 = nn.BatchNorm1d(hidden[1])

    def forward(self, x):
        batch, frames = x.shape[0], x.shape[3]
        # every frame on its own: [batch, channel, bin, frame] -> [batch * frame, channel, bin]
        f = torch.cat([x[:, :, :, t] for t in range(frames)], dim=0)
        h = self.block4(self.block3(self.block2(self.block1(f))))
        h = torch.cat([h.flatten(1), f.flatten(1)], dim=1)
        h = F.relu(self.bn1(self.fc1(h)))
        h = F.relu(self.bn2(self.fc2(h)))
        # rows are frame-major here: back to [batch, frame, F]
        return h.view(frames, batch, -1).transpose(0, 1)


class Encoder(nn.Module):
    """A user's module for models.torchscript: not one of avgraph's networks."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(3, 5, 4, stride=2)
        self.proj = nn.Linear(5, 7)

    def forward(self, x):
        h = torch.tanh(self.conv(x))
        if h.size(2) > 1:  # control flow: why a module is scripted rather than traced
            h = h.mean(dim=2)
        else:
            h = h[:, :, 0]
        return self.proj(h) * 2.0


def randomise(net, gen, fixed_std=None):
    """Draws every parameter and batch-norm statistic from `gen`; `fixed_std` names parameters whose
    standard deviation is given instead of derived."""
    with torch.no_grad():
        for name, p in net.named_parameters():
            is_bn = ".bn" in name or name.startswith("bn")
            scale = 1.0 if is_bn and name.endswith("weight") else 0.0
            # He scaling (std sqrt(2 / fan in)) keeps eval-mode activations of order 1 through the ReLUs
            if fixed_std and name in fixed_std:
                std = fixed_std[name]
            else:
                std = 0.2 if is_bn or p.dim() == 1 else (2.0 / p[0].numel()) ** 0.5
            p.copy_(scale + torch.randn(p.shape, generator=gen) * std)
        for name, b in net.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=gen) * 0.2)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=gen) + 0.5)
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)


def bf16_forward(net, x):
    """The forward pass under bf16 autocast on the CPU, as avgraph's precision "bf16" runs a network node
    (graph/precision.h): the input channels-last, as avgraph hands it to its convolutions (in bf16 another
    layout's summation order rounds differently at every layer), and the logits back in float32."""
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        return net(x.contiguous(memory_format=torch.channels_last)).float()


def export(out, name, net, x, fixed_std=None, bf16=False):
    """Randomises `net`, saves it as TorchScript and its input and outputs (eval and train mode) as .npy;
    with bf16, also NAME_eval_bf16.npy and NAME_train_bf16.npy under bf16 autocast."""
    gen = torch.Generator().manual_seed(1234)
    randomise(net, gen, fixed_std)
    net.eval()
    with torch.no_grad():
        y_eval = net(x)
    if bf16:  # before training mode changes the running statistics
        np.save(os.path.join(out, name + "_eval_bf16.npy"), bf16_forward(net, x).numpy())
    torch.jit.script(net).save(os.path.join(out, name + ".pt"))
    net.train()
    with torch.no_grad():
        y_train = net(x)
    if bf16:
        np.save(os.path.join(out, name + "_train_bf16.npy"), bf16_forward(net, x).numpy())
    np.save(os.path.join(out, name + "_in.npy"), x.numpy().astype(np.float32))
    np.save(os.path.join(out, name + "_eval.npy"), y_eval.numpy().astype(np.float32))
    np.save(os.path.join(out, name + "_train.npy"), y_train.numpy().astype(np.float32))


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    # items of different scales and offsets, so that each item's logits differ clearly from the others'
    spread = lambda n: (torch.arange(n, dtype=torch.float32) + 1.0).view(n, 1, 1, 1)
    export(out, "cnn9", Cnn9(2, [8, 16, 24, 32], 5), torch.randn(3, 2, 20, 37) * spread(3) + spread(3) - 2.0,
           bf16=True)
    export(out, "vgg14", Vgg14(3, [4, 8, 8, 16], 12, 4), torch.randn(2, 3, 16, 24) * 3.0 * spread(2) + spread(2))
    export(out, "embedding_mlp", EmbeddingMlp(10, [16, 12], 3), torch.randn(4, 10))
    export(out, "res_dcnn", ResDcnn(2, 64, [4, 8, 16, 32], [24, 16]), torch.randn(2, 2, 64, 3) * spread(2) + spread(2))

    enc = Encoder().eval()
    x = torch.randn(2, 3, 50)
    with torch.no_grad():
        y = enc(x)
    torch.jit.script(enc).save(os.path.join(out, "encoder.pt"))
    np.save(os.path.join(out, "encoder_in.npy"), x.numpy())
    np.save(os.path.join(out, "encoder_out.npy"), y.numpy())

    # bins on very different scales, as log-mel bands are: bn0 has something to even out
    bin_offsets = torch.linspace(-6.0, 6.0, 20).view(1, 1, 20, 1)
    export(out, "cnn9_panns", Cnn9Panns(2, 20, [8, 16, 24, 32], 5),
           torch.randn(3, 2, 20, 37) * spread(3) + spread(3) + bin_offsets)


if __name__ == "__main__":
    main()
