#!/usr/bin/env python3
"""Exports a ResNet-18 with random weights to ONNX, as a realistic backbone *workload* for
bench/extract.ts (speed only: the weights are random, the features are meaningless).

Needs Debian's python3-torchvision and python3-onnx (apt-get install -y python3-torchvision
python3-onnx); run with /usr/bin/python3. Usage: export-resnet18.py OUT.onnx
fc is replaced by identity, so the output is the 512-d pooled feature; dynamic batch axis, opset 13
(see ../shared/BENCHMARKS.md, "Backbone throughput")."""
import sys

import torch
import torchvision

out = sys.argv[1] if len(sys.argv) > 1 else "resnet18.onnx"
torch.manual_seed(0)
m = torchvision.models.resnet18(weights=None)
m.fc = torch.nn.Identity()
m.eval()
x = torch.zeros(1, 3, 224, 224)
torch.onnx.export(
    m, x, out, opset_version=13, input_names=["input"], output_names=["features"],
    dynamic_axes={"input": {0: "N"}, "features": {0: "N"}},
)
print(out)
