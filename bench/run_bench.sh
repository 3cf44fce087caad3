#!/bin/sh
# Compares training throughput of tensorgrad (bench_train) and PyTorch
# (bench/torch_peer.py) on the same model, fp32 and bf16, with the same
# thread count, and prints one table.
#
#   bench/run_bench.sh BUILD_DIR [--long] [--rounds N] [flags for both programs...]
#
# --threads N (default 2) is passed to both and exported as OMP_NUM_THREADS.
# --rounds N (default 3) runs the bf16 pair N times, ours then PyTorch each
# round, and prints every round and the median ratio: on a shared machine a
# single pair moves by 10-20% (fp32, whose ratio is far from its target,
# runs once).
# --long instead runs ours alone at seq 256, 1024 and 4096 with
# batch * seq = 4096 tokens per step. Run logs stay in $BENCH_LOG_DIR
# (default: a fresh directory under /tmp, printed at the end).
set -u

usage() {
    echo "usage: $0 BUILD_DIR [--long] [--rounds N] [--threads N] [bench flags...]" >&2
    exit 2
}

[ $# -ge 1 ] || usage
build=$1
shift
ours="$build/bench_train"
peer="$(dirname "$0")/torch_peer.py"
python=${PYTHON:-/usr/bin/python3}
[ -x "$ours" ] || { echo "$0: $ours not found: build the bench_train target first" >&2; exit 2; }

long=0
threads=2
rounds=3
flags=""
while [ $# -gt 0 ]; do
    case $1 in
        --long) long=1 ;;
        --threads)
            [ $# -ge 2 ] || { echo "$0: --threads expects a positive integer" >&2; exit 2; }
            threads=$2
            shift ;;
        --rounds)
            [ $# -ge 2 ] || { echo "$0: --rounds expects a positive integer" >&2; exit 2; }
            rounds=$2
            shift ;;
        --bf16) echo "$0: --bf16 is chosen per row; do not pass it" >&2; exit 2 ;;
        *) flags="$flags $1" ;;
    esac
    shift
done
case $threads in
    ''|*[!0-9]*|0) echo "$0: --threads expects a positive integer, got '$threads'" >&2; exit 2 ;;
esac
case $rounds in
    ''|*[!0-9]*|0) echo "$0: --rounds expects a positive integer, got '$rounds'" >&2; exit 2 ;;
esac
export OMP_NUM_THREADS="$threads"

logs=${BENCH_LOG_DIR:-$(mktemp -d /tmp/tg_bench.XXXXXX)}
mkdir -p "$logs"

. "$(dirname "$0")/result_fields.sh" # field, ratio

# run NAME CMD...: runs CMD with stdout in $logs/NAME.out, stderr in
# $logs/NAME.err; sets rc. Exit 2 of ours in bf16 means "bf16 not
# implemented" and is reported as skipped; exit 2 elsewhere is a bad flag,
# which stops the script.
run() {
    name=$1
    shift
    echo "running $name: $*" >&2
    "$@" >"$logs/$name.out" 2>"$logs/$name.err"
    rc=$?
    [ $rc -eq 0 ] && return
    if [ $rc -eq 2 ] && [ "${name%%.*}" = ours_bf16 ]; then
        echo "ours bf16 skipped: $(head -n 1 "$logs/$name.err")" >&2
        return
    fi
    echo "$name failed (exit $rc):" >&2
    tail -n 5 "$logs/$name.err" >&2
    [ $rc -eq 2 ] && exit 2
}

# tps NAME: tokens/s of a finished run, or why there is none.
tps() {
    if [ "$rc" -eq 0 ]; then field tokens_per_s "$logs/$1.out"
    elif [ "$rc" -eq 2 ]; then echo "n/a"
    else echo "failed"
    fi
}


cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
blas=$("$python" -c 'import torch, re; m = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()); print(m.group(1) if m else "?")' 2>/dev/null)

table="$logs/table.txt"
if [ $long -eq 1 ]; then
    first=ours_seq256
    printf '%-6s %-6s %14s %14s %10s\n' seq batch tokens_per_s peak_rss_mb first_loss >"$table"
    for seq in 256 1024 4096; do
        batch=$((4096 / seq))
        # shellcheck disable=SC2086 # flags are words on purpose
        run "ours_seq$seq" "$ours" $flags --threads "$threads" --seq $seq --batch $batch
        printf '%-6s %-6s %14s %14s %10s\n' $seq $batch "$(tps ours_seq$seq)" \
            "$(field peak_rss_mb "$logs/ours_seq$seq.out")" "$(field first_loss "$logs/ours_seq$seq.out")" >>"$table"
    done
else
    first=ours_fp32
    printf '%-8s %14s %14s %12s %12s %12s %10s %10s\n' run ours_tok_s torch_tok_s ours/torch \
        ours_rss_mb torch_rss_mb ours_loss1 torch_loss1 >"$table"
    ratios=""
    for run_name in fp32 $(seq -f 'bf16.%g' 1 "$rounds"); do
        dt=${run_name%%.*}
        extra=""
        [ $dt = bf16 ] && extra=--bf16
        # shellcheck disable=SC2086
        run "ours_$run_name" "$ours" $flags --threads "$threads" $extra
        ours_tps=$(tps "ours_$run_name")
        # shellcheck disable=SC2086
        run "torch_$run_name" "$python" "$peer" $flags --threads "$threads" $extra
        torch_tps=$(tps "torch_$run_name")
        r=$(ratio "$ours_tps" "$torch_tps")
        [ $dt = bf16 ] && ratios="$ratios $r"
        printf '%-8s %14s %14s %12s %12s %12s %10s %10s\n' $run_name "$ours_tps" "$torch_tps" "$r" \
            "$(field peak_rss_mb "$logs/ours_$run_name.out")" "$(field peak_rss_mb "$logs/torch_$run_name.out")" \
            "$(field first_loss "$logs/ours_$run_name.out")" "$(field first_loss "$logs/torch_$run_name.out")" >>"$table"
    done
    echo "bf16 median ours/torch over $rounds rounds: $(echo $ratios | tr ' ' '\n' | grep -v '^-$' | sort -n |
        awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2); else print "-" }')" >>"$table"
fi
cat "$table"
echo "config: $(sed -n '1s/^cpu="[^"]*" //p' "$logs/$first.out" 2>/dev/null)"
for f in "$logs"/ours_*.out; do
    impl=$(sed -n 's/^onednn_impl //p' "$f" 2>/dev/null)
    [ -n "$impl" ] && echo "oneDNN $(basename "$f" .out): $impl"
done
echo "cpu: $cpu; threads: $threads; torch BLAS: ${blas:-?}; logs: $logs"
