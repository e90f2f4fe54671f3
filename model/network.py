# SPDX-License-Identifier: GPL-2.0-or-later
"""DA-U-Net (dilated convolutions + ASPP bottleneck + attention-augmented up-sampling).

The two flags rebuild the ablation variants of the paper's Table II:

========  =======  =========
variant   dilated  attention
========  =======  =========
U-Net     False    False
D-U-Net   True     False
A-U-Net   False    True
DA-U-Net  True     True
========  =======  =========

``forward`` returns one logit channel; :class:`ProbabilityHead` adds the sigmoid for export.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

VARIANTS: dict[str, tuple[bool, bool]] = {
    "U-Net": (False, False),
    "D-U-Net": (True, False),
    "A-U-Net": (False, True),
    "DA-U-Net": (True, True),
}


def variant_name(dilated: bool, attention: bool) -> str:
    for name, flags in VARIANTS.items():
        if flags == (dilated, attention):
            return name
    raise AssertionError("unreachable")


class ConvBNReLU(nn.Sequential):
    """3x3 (or k x k) convolution, BatchNorm, ReLU; padding keeps the spatial size."""

    def __init__(self, c_in: int, c_out: int, kernel: int = 3, dilation: int = 1) -> None:
        pad = dilation * (kernel - 1) // 2
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel, padding=pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True),
        )


class EncoderStage(nn.Sequential):
    """Two convolutions; with ``dilated`` the second one has dilation 2 (wider receptive field)."""

    def __init__(self, c_in: int, c_out: int, dilated: bool) -> None:
        super().__init__(ConvBNReLU(c_in, c_out), ConvBNReLU(c_out, c_out, dilation=2 if dilated else 1))


class ASPP(nn.Module):
    """Atrous spatial pyramid: 3x3 convolutions at dilation 1, 3, 6 in parallel, concatenated, 1x1 fused."""

    def __init__(self, c_in: int, c_out: int, rates: tuple[int, ...] = (1, 3, 6)) -> None:
        super().__init__()
        self.branches = nn.ModuleList(ConvBNReLU(c_in, c_out, dilation=r) for r in rates)
        self.fuse = ConvBNReLU(c_out * len(rates), c_out, kernel=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fuse(torch.cat([branch(x) for branch in self.branches], dim=1))


class AttentionGate(nn.Module):
    """Paper Fig. 2: alpha = sigmoid(conv1x1(relu(conv1x1(A) + resize(conv1x1(B))))), F = A + alpha * A."""

    def __init__(self, c_skip: int, c_coarse: int, c_inter: int) -> None:
        super().__init__()
        self.theta = nn.Conv2d(c_skip, c_inter, 1)
        self.phi = nn.Conv2d(c_coarse, c_inter, 1)
        self.psi = nn.Conv2d(c_inter, 1, 1)

    def alpha(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        b = F.interpolate(self.phi(coarse), size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return torch.sigmoid(self.psi(F.relu(self.theta(skip) + b)))

    def forward(self, skip: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        return skip + self.alpha(skip, coarse) * skip


class DecoderStage(nn.Module):
    """Up-sample the coarser decoder feature, (optionally attention-augment) the skip, concat, two convs."""

    def __init__(self, c_coarse: int, c_skip: int, c_out: int, attention: bool) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(c_coarse, c_skip, 1)  # after bilinear up-sampling: cheap learnt up-sampling
        self.gate = AttentionGate(c_skip, c_coarse, max(c_skip // 2, 1)) if attention else None
        self.convs = nn.Sequential(ConvBNReLU(2 * c_skip, c_out), ConvBNReLU(c_out, c_out))

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.reduce(F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False))
        if self.gate is not None:
            skip = self.gate(skip, coarse)
        return self.convs(torch.cat([skip, up], dim=1))


class DAUNet(nn.Module):
    """U-Net with ``depth`` max-pools; channels ``width * 2**level``; any number of input bands."""

    def __init__(
        self,
        in_channels: int = 3,
        width: int = 16,
        depth: int = 4,
        dilated: bool = True,
        attention: bool = True,
    ) -> None:
        super().__init__()
        if in_channels < 1 or width < 1 or depth < 1:
            raise ValueError("in_channels, width and depth must be positive")
        self.in_channels, self.width, self.depth = in_channels, width, depth
        self.dilated, self.attention = dilated, attention
        chans = [width * 2**i for i in range(depth + 1)]
        self.encoders = nn.ModuleList()
        c_prev = in_channels
        for c in chans[:-1]:
            self.encoders.append(EncoderStage(c_prev, c, dilated))
            c_prev = c
        if dilated:
            self.bottleneck: nn.Module = ASPP(chans[-2], chans[-1])
        else:
            self.bottleneck = nn.Sequential(
                ConvBNReLU(chans[-2], chans[-1]), ConvBNReLU(chans[-1], chans[-1])
            )
        self.decoders = nn.ModuleList(
            DecoderStage(chans[i + 1], chans[i], chans[i], attention) for i in reversed(range(depth))
        )
        self.head = nn.Conv2d(chans[0], 1, 1)

    @property
    def variant(self) -> str:
        return variant_name(self.dilated, self.attention)

    @property
    def size_divisor(self) -> int:
        return 2**self.depth

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottleneck(x)
        for decoder, skip in zip(self.decoders, reversed(skips)):
            x = decoder(x, skip)
        return self.head(x)


class ProbabilityHead(nn.Module):
    """The exported graph: normalised bands in, landslide probability out (sigmoid inside the graph)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(x))


def build_model(variant: str = "DA-U-Net", in_channels: int = 3, width: int = 16, depth: int = 4) -> DAUNet:
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    dilated, attention = VARIANTS[variant]
    return DAUNet(in_channels, width, depth, dilated=dilated, attention=attention)


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
