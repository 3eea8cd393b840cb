#!/usr/bin/env bash
# Packs bench/gpu-check.ts with a Node binary and onnxruntime-node into .gpu/ (git-ignored) so the
# check can run on a GPU machine that has no Node: `bash .gpu/run.sh` there. Vulkan loader debs go
# in .gl/ (see docs/ARCHITECTURE.md, "GPU").
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .gpu/node_modules
node_modules/.bin/esbuild bench/gpu-check.ts --bundle --platform=node --format=esm --target=node20 \
  --external:onnxruntime-node --external:'@tensorflow/*' --external:sharp --external:better-sqlite3 --outfile=.gpu/gpu-check.mjs
for p in onnxruntime-common onnxruntime-node; do
  mkdir -p .gpu/node_modules/$p && cp -r node_modules/$p/dist node_modules/$p/package.json .gpu/node_modules/$p/
done
bin=.gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
mkdir -p $bin && cp node_modules/onnxruntime-node/bin/napi-v*/linux/x64/onnxruntime_binding.node $bin/
[ -f .gpu/libonnxruntime.so.1.xz ] || xz -T0 -6 -c node_modules/onnxruntime-node/bin/napi-v*/linux/x64/libonnxruntime.so.1 > .gpu/libonnxruntime.so.1.xz
[ -f .gpu/node.xz ] || xz -T0 -6 -c "$(readlink -f "$(command -v node)")" > .gpu/node.xz
cat > .gpu/run.sh <<'RUN'
#!/bin/bash
set -u
for f in .gl/*.deb; do dpkg -x $f /; done; ldconfig
export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
mkdir -p /tmp/n; xz -dc .gpu/node.xz > /tmp/n/node; chmod +x /tmp/n/node
xz -dc .gpu/libonnxruntime.so.1.xz > .gpu/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/libonnxruntime.so.1
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
cd .gpu && /tmp/n/node gpu-check.mjs "$@"
RUN
chmod +x .gpu/run.sh
