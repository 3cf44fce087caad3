# Shell helpers shared by the benchmark scripts (sourced, POSIX sh).

# field NAME FILE: value of NAME=... on the result line of FILE ("-" if none).
field() {
    v=$(grep '^tokens_per_s=' "$2" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$1=//p")
    echo "${v:--}"
}

# ratio A B: A / B to two decimals, "-" unless both are positive numbers.
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "-" }'
}
