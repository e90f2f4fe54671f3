# SPDX-License-Identifier: GPL-2.0-or-later
"""Training code (PyTorch): DA-U-Net, data loading, training, ONNX export. Not shipped in the plugin zip."""
