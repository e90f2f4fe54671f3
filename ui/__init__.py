# SPDX-License-Identifier: GPL-2.0-or-later
"""The dock widget and what it needs: run, results, onnxruntime installation."""
