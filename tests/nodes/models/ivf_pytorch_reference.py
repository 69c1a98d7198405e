#!/usr/bin/python3
"""Independent reference for the IVF nodes: the same networks written in Python PyTorch.

Usage: ivf_pytorch_reference.py OUT_DIR

Builds the VQ-VAE encoder and decoder (two residual layers), the transformation network G (index-map
mode) and the critic with minibatch discrimination, with small sizes, gives every parameter and
batch-norm statistic random values, and writes for each NAME:
  NAME.pt             the weights, as torch.jit.script(net).save (a LibTorch archive)
  NAME_in.npy         a random input
  NAME_eval.npy       the output in eval mode
  NAME_train.npy      the output in training mode (batch statistics in G's batch norm)
"""
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

from pytorch_reference import export  # the randomising and saving the two references share


class Residual(nn.Module):
    def __init__(self, channels, hidden):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, hidden, 3, padding=1)
        self.conv2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class Encoder(nn.Module):
    def __init__(self, hidden, residual_hidden, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(3, hidden // 2, 4, stride=2, padding=1)
        self.conv2 = nn.Conv2d(hidden // 2, hidden, 4, stride=2, padding=1)
        self.conv3 = nn.Conv2d(hidden, hidden, 4, stride=2, padding=1)
        self.conv4 = nn.Conv2d(hidden, hidden, 3, padding=1)
        self.residual1 = Residual(hidden, residual_hidden)
        self.residual2 = Residual(hidden, residual_hidden)
        self.pre_vq_conv = nn.Conv2d(hidden, dim, 1)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        x = F.relu(self.conv3(x))
        x = self.residual2(self.residual1(self.conv4(x)))
        return self.pre_vq_conv(F.relu(x))


class Decoder(nn.Module):
    def __init__(self, hidden, residual_hidden, dim):
        super().__init__()
        self.conv1 = nn.Conv2d(dim, hidden, 3, padding=1)
        self.residual1 = Residual(hidden, residual_hidden)
        self.residual2 = Residual(hidden, residual_hidden)
        self.deconv1 = nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1)
        self.deconv2 = nn.ConvTranspose2d(hidden, hidden // 2, 4, stride=2, padding=1)
        self.deconv3 = nn.ConvTranspose2d(hidden // 2, 3, 4, stride=2, padding=1)

    def forward(self, z):
        z = self.residual2(self.residual1(self.conv1(z)))
        z = F.relu(self.deconv1(F.relu(z)))
        z = F.relu(self.deconv2(z))
        return self.deconv3(z)


class ConvBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(x)))


class TransformationNetwork(nn.Module):
    """G in index-map mode: MODELS.md's IVF section."""

    def __init__(self, widths, shortcut, hidden, grid):
        super().__init__()
        self.shortcut = shortcut
        self.grid = grid
        self.conv_block1 = ConvBlock(1, widths[0])
        self.conv_block2 = ConvBlock(widths[0], widths[1])
        self.conv_block3 = ConvBlock(widths[1], widths[2])
        self.conv_block4 = ConvBlock(widths[2], widths[3])
        self.fc1 = nn.Linear(widths[3] + shortcut, hidden)
        self.bn_fc1 = nn.BatchNorm1d(hidden)
        self.fc2 = nn.Linear(hidden, grid * grid)

    def forward(self, x):
        loudest, _ = torch.max(x[:, 0], dim=2)  # over frames: [N, bins]
        envelope = F.adaptive_avg_pool1d(loudest.unsqueeze(1), self.shortcut).squeeze(1)
        h = F.avg_pool2d(self.conv_block1(x), 2)
        h = F.avg_pool2d(self.conv_block2(h), 2)
        h = F.avg_pool2d(self.conv_block3(h), 2)
        h = self.conv_block4(h)
        h, _ = torch.max(torch.mean(h, dim=2), dim=2)
        h = F.relu(self.bn_fc1(self.fc1(torch.cat([h, envelope], dim=1))))
        return torch.tanh(self.fc2(h).view(-1, 1, self.grid, self.grid))


class MinibatchDiscrimination(nn.Module):
    def __init__(self, features, kernels, dims):
        super().__init__()
        self.kernels = kernels
        self.dims = dims
        self.T = nn.Parameter(torch.randn(features, kernels * dims))

    def forward(self, f):
        m = (f @ self.T).view(-1, self.kernels, self.dims)
        l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)
        return torch.cat([f, torch.exp(-l1).sum(1)], dim=1)


class Critic(nn.Module):
    def __init__(self, cin, widths, grid, kernels, dims):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, widths[0], 3, stride=2, padding=1)
        self.conv2 = nn.Conv2d(widths[0], widths[1], 3, stride=2, padding=1)
        size = ((grid + 1) // 2 + 1) // 2
        self.minibatch = MinibatchDiscrimination(widths[1] * size * size, kernels, dims)
        self.fc = nn.Linear(widths[1] * size * size + kernels, 1)

    def forward(self, x):
        x = F.leaky_relu(self.conv1(x), 0.2)
        x = F.leaky_relu(self.conv2(x), 0.2)
        return self.fc(self.minibatch(x.flatten(1))).squeeze(1)


def main():
    out = sys.argv[1]
    torch.manual_seed(0)
    export(out, "vqvae_encoder", Encoder(16, 8, 8), torch.rand(2, 3, 32, 24) - 0.5)
    export(out, "vqvae_decoder", Decoder(16, 8, 8), torch.randn(2, 8, 3, 4))
    export(out, "transformation_network", TransformationNetwork([4, 8, 8, 16], 8, 12, 4),
           torch.randn(3, 1, 32, 40) * 2.0 - 1.0)
    # The minibatch kernels are scaled so that the L1 distances between items are of order 1 and
    # exp(-distance) is not 0.
    export(out, "critic", Critic(3, [4, 8], 8, 5, 3), torch.randn(4, 3, 8, 8), fixed_std={"minibatch.T": 0.05})


if __name__ == "__main__":
    main()
