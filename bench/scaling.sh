#!/bin/sh
# Scaling tables for the README: tensorgrad (bench_train) beside PyTorch
# (bench/torch_peer.py) for model widths d 256 / 512 / 768 (heads d/64,
# ff 4d, 4 layers, vocab 8192) with 1 and 2 threads, fp32 and bf16; then
# ours alone at seq 256 / 1024 / 4096 with 4,096 tokens per step.
#
#   bench/scaling.sh BUILD_DIR [--batch 4] [--steps 2] [--warmup 1]
#
# Prints markdown tables (tokens/s, peak RSS in MB, ratio ours / torch).
# Logs stay in $BENCH_LOG_DIR (default: a fresh directory under /tmp).
set -u
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR [--batch N] [--steps N] [--warmup N]" >&2; exit 2; }
build=$1
shift
batch=4 steps=2 warmup=1
while [ $# -gt 0 ]; do
    case $1 in
        --batch) batch=$2; shift ;;
        --steps) steps=$2; shift ;;
        --warmup) warmup=$2; shift ;;
        *) echo "$0: unknown flag '$1'" >&2; exit 2 ;;
    esac
    shift
done
ours="$build/bench_train"
peer="$(dirname "$0")/torch_peer.py"
python=${PYTHON:-/usr/bin/python3}
logs=${BENCH_LOG_DIR:-$(mktemp -d /tmp/tg_scaling.XXXXXX)}
mkdir -p "$logs"

. "$(dirname "$0")/result_fields.sh" # field, ratio
# run LOG THREADS CMD...: runs CMD with OMP_NUM_THREADS=THREADS into LOG
run() {
    log=$1 th=$2
    shift 2
    echo "running $(basename "$log" .out): $*" >&2
    OMP_NUM_THREADS=$th "$@" >"$log" 2>"${log%.out}.err" || echo "  failed: $(tail -n 1 "${log%.out}.err")" >&2
}

cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
flags=$(grep -o -w 'avx512f\|avx512_bf16\|amx_bf16\|avx2' /proc/cpuinfo | sort -u | tr '\n' ' ')
echo "CPU: $cpu ($(nproc) cores; $flags); batch $batch x seq 256, median of $steps steps after $warmup warmup"
echo
echo "| d | threads | dtype | ours tok/s | torch tok/s | ours/torch | ours RSS MB | torch RSS MB | oneDNN (lm_head) |"
echo "|---|---|---|---|---|---|---|---|---|"
for d in 256 512 768; do
    for th in 1 2; do
        for dt in fp32 bf16; do
            extra=""
            [ $dt = bf16 ] && extra=--bf16
            common="--d $d --heads $((d / 64)) --ff $((4 * d)) --batch $batch --steps $steps --warmup $warmup --threads $th"
            o="$logs/ours_d${d}_t${th}_$dt.out" p="$logs/torch_d${d}_t${th}_$dt.out"
            # shellcheck disable=SC2086 # words on purpose
            run "$o" "$th" "$ours" $common $extra
            # shellcheck disable=SC2086
            run "$p" "$th" "$python" "$peer" $common $extra
            ot=$(field tokens_per_s "$o") pt=$(field tokens_per_s "$p")
            impl=$(sed -n 's/^onednn_impl .*lm_head=//p' "$o")
            echo "| $d | $th | $dt | $ot | $pt | $(ratio "$ot" "$pt") | $(field peak_rss_mb "$o") | $(field peak_rss_mb "$p") | ${impl:--} |"
        done
    done
done
echo
echo "Long documents (ours, d 256, 2 threads, batch x seq = 4096 tokens per step):"
echo
echo "| seq | batch | dtype | tok/s | peak RSS MB |"
echo "|---|---|---|---|---|"
for seq in 256 1024 4096; do
    for dt in fp32 bf16; do
        extra=""
        [ $dt = bf16 ] && extra=--bf16
        o="$logs/ours_seq${seq}_$dt.out"
        # shellcheck disable=SC2086
        run "$o" 2 "$ours" --seq $seq --batch $((4096 / seq)) --steps $steps --warmup $warmup --threads 2 $extra
        echo "| $seq | $((4096 / seq)) | $dt | $(field tokens_per_s "$o") | $(field peak_rss_mb "$o") |"
    done
done
echo
echo "logs: $logs"
