#!/usr/bin/env bash
# On a GPU machine (run from the repository root, synthmed installed in .venv): the throughput benchmark on the GPU
# and a 2-process DDP fit (NCCL), in under 5 minutes. Prints everything it measures.
set -euo pipefail
PY=.venv/bin/python
nvidia-smi --query-gpu=name,memory.total --format=csv
$PY - <<'PY'
import time, torch
a, b = torch.randn(1000, 1071, device="cuda"), torch.randn(1071, 1071, device="cuda")
torch.mm(a, b); torch.cuda.synchronize()
started = time.perf_counter()
for _ in range(200):
    torch.mm(a, b)
torch.cuda.synchronize()
print(f"GPU matmul ceiling: {2 * 1000 * 1071 * 1071 * 200 / (time.perf_counter() - started) / 1e9:.0f} GFLOP/s")
PY
$PY -c "
import numpy as np, time, synthmed
from synthmed.models import MedGAN
x = (np.random.default_rng(0).random((46520, 1071)) < 11.27 / 1071).astype('float32')
m = MedGAN(epochs=2, pretrain_epochs=1, batch_size=1000, pretrain_batch_size=1000, seed=0, device='cuda').fit(x, progress=False)
print('medGAN on GPU, s per epoch:', {phase: round(rows[-1]['seconds'], 2) for phase, rows in m.history_.items() if rows and 'seconds' in rows[-1]})
"
$PY -c "import numpy as np, pandas as pd; pd.DataFrame((np.random.default_rng(0).random((20000, 200)) < 0.05).astype(int)).add_prefix('c').to_parquet('/tmp/ddp.parquet')"
nproc=$($PY -c "import torch; print(min(2, torch.cuda.device_count()))")
time .venv/bin/torchrun --standalone --nproc_per_node "$nproc" -m synthmed fit /tmp/ddp.parquet -o /tmp/ddp.smg \
    --model medgan --epochs 5 --set pretrain_epochs=2 --device cuda --seed 0
$PY -c "import synthmed; print(synthmed.load('/tmp/ddp.smg').sample(5, seed=0))"
