#!/usr/bin/env bash
# Builds a separate Python environment holding the reference implementations that likeness is
# held against (scikit-image, lpips, pytorch-fid, clean-fid, torch-fidelity, piq, pytorch-msssim,
# torchmetrics, pyiqa, BasicSR, DISTS_pytorch, prdc, vendi-score, transformers, timm, pyrtools,
# open_clip's tokenizer, OpenAI's clip package — setuptools<81 for its pkg_resources) on the CPU
# build of torch. Use it to produce pinned reference values (write the reference's name and
# version beside them) and for live comparisons in benchmarks; never as a runtime dependency.
#
# Usage: references/reference-env.sh [VENV]     (default: $REFERENCE_VENV, else $TMPDIR/likeness-reference)
#        then  "$VENV/bin/python" your_script.py
#
# Why the odd steps: the registry's torchvision wheel is a CUDA build whose compiled ops cannot
# load beside the CPU torch; its pure-Python models and transforms work once its operator
# registrations are emptied, which is all the references need (their networks run with stand-in
# weights: nothing can be downloaded here). BasicSR imports a module newer torchvision moved.
set -euo pipefail
venv=${1:-${REFERENCE_VENV:-${TMPDIR:-/tmp}/likeness-reference}}
check='import lpips, pytorch_fid, skimage, torch_fidelity, piq, pyiqa, DISTS_pytorch, prdc, vendi_score, transformers, clip, open_clip
from basicsr.metrics.psnr_ssim import calculate_ssim'
[ -x "$venv/bin/python" ] && "$venv/bin/python" -c "$check" 2>/dev/null && { echo "$venv ready"; exit 0; }
python3 -m venv "$venv"
pin=$(mktemp); echo "torch==2.13.0" >"$pin"
pip=("$venv/bin/pip" install -q -c "$pin")
"${pip[@]}" torch==2.13.0 numpy scipy scikit-image scikit-learn pillow opencv-python-headless tqdm requests \
  packaging typing_extensions addict future lmdb yapf einops pyyaml huggingface_hub safetensors transformers timm pytest
"${pip[@]}" --no-deps torchvision lpips piq pytorch-msssim torchmetrics lightning-utilities pytorch-fid clean-fid \
  torch-fidelity pyiqa basicsr DISTS-pytorch prdc vendi-score pyrtools==1.1.1 choix krippendorff \
  open_clip_torch openai-clip ftfy wcwidth regex "setuptools<81"
tv=$("$venv/bin/python" -c 'import importlib.util,os;print(os.path.dirname(importlib.util.find_spec("torchvision").origin))')
for f in _meta_registrations.py _autograd_registrations.py; do : >"$tv/$f"; done
[ -f "$tv/transforms/functional_tensor.py" ] || \
  echo 'from torchvision.transforms.functional import rgb_to_grayscale  # noqa: F401' >"$tv/transforms/functional_tensor.py"
"$venv/bin/python" -c "$check" && echo "$venv ready"
