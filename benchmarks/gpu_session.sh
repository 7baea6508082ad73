#!/usr/bin/env bash
# The GPU table of issue 14 in one command, for a GPU machine lent for a few minutes.
#
#   bash benchmarks/gpu_session.sh [BUDGET_SECONDS]     # default 420
#
# Run from the project root on the GPU machine (it needs JAX with CUDA, torch, numpy, pandas
# and scikit-learn there; nothing else: the project is put on PYTHONPATH, and wheels in
# .whl/, if any, are installed into /tmp/site). Writes into $OUT
# (or ./gpu_out): nvidia-smi.txt, gpu_table.json (rewritten after every part, so a run killed
# at the time limit keeps what it measured) and gpu_table.log. Parts that would start after
# BUDGET_SECONDS are skipped; the whole run is killed 150 s after that.
set -u
out=${OUT:-gpu_out}
budget=${1:-420}
mkdir -p "$out"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export XLA_PYTHON_CLIENT_PREALLOCATE=false   # torch shares the GPU with JAX
py=$(command -v python3 || command -v python)
if compgen -G ".whl/*.whl" > /dev/null; then  # wheels carried along (e.g. pebble), if any
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || echo "no nvidia-smi" > "$out/nvidia-smi.txt"
"$py" -c "import jax, torch; print('jax', jax.__version__, jax.devices(), '| torch',
torch.__version__, torch.cuda.is_available())" 2>&1 | tee "$out/gpu_table.log"
timeout $((${budget%.*} + 150)) "$py" benchmarks/bench_gpu.py --out "$out/gpu_table.json" \
    --budget "$budget" 2>&1 | tee -a "$out/gpu_table.log"
echo "exit: ${PIPESTATUS[0]}" | tee -a "$out/gpu_table.log"
