"""Convert a PyTorch state-dict checkpoint (torch.save of a dict of tensors, e.g. an
EDSR-PyTorch/STRONGLIVE `model_best.pt`) into safetensors that `stronglive` loads.

    python scripts/convert_checkpoint.py IN.pt OUT.safetensors

Loads with weights_only=True (no code from the file runs) onto the CPU.
"""

import sys

import torch
from safetensors.torch import save_file


def main(src: str, dst: str) -> None:
    state = torch.load(src, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    tensors = {k: v.detach().float().contiguous() for k, v in state.items() if torch.is_tensor(v)}
    if not tensors:
        raise SystemExit(f"convert_checkpoint: {src} holds no tensors")
    save_file(tensors, dst)
    print(f"convert_checkpoint: {len(tensors)} tensors -> {dst}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
