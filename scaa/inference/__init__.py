"""Inference: detectors (cell, fused, ONNX, pretrained), the one scoring path, parallel scoring and the output line."""
