#!/usr/bin/env bash
# serve_claims over real HTTP on a tiny trained model: health, one claim,
# a batch with a malformed claim (error record in place), bad JSON (400),
# an oversized body (413), 404/405/422, then SIGTERM exits 0 promptly.
# Usage: serve_check.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2> /dev/null; rm -rf "$tmp"' EXIT
cd "$tmp"
"$here/tiny_model.sh" "$build" 400 10 > train.log
python3 - <<'PY'
import json
claims = []
for line in open("c.test.jsonl"):
    d = json.loads(line)
    for k in ("decision", "fraud", "deny_reasons"):
        d.pop(k, None)
    claims.append(d)
json.dump(claims[0], open("one.json", "w"))
batch = claims[1:5]
batch.insert(2, {"claim_id": 1})
json.dump(batch, open("batch.json", "w"))
open("big.json", "w").write('{"pad": "' + "x" * 2000000 + '"}')
PY
"$build/serve_claims" --model run/checkpoint.safetensors --port 0 > serve.out 2> serve.err &
pid=$!
for _ in $(seq 100); do grep -q listening serve.out && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' serve.out)
test -n "$port"
url=http://127.0.0.1:$port
code() { curl -s -o "$1" -w '%{http_code}' "${@:2}"; }
test "$(code health.json "$url/health")" = 200
test "$(code one_out.json -H 'Content-Type: application/json' --data-binary @one.json "$url/score")" = 200
test "$(code batch_out.json --data-binary @batch.json "$url/score")" = 200
test "$(code bad.json --data-binary 'not json {' "$url/score")" = 400
test "$(code big_out.json --data-binary @big.json "$url/score")" = 413
test "$(code invalid.json --data-binary '{"claim_id": 1}' "$url/score")" = 422
test "$(code nf.json "$url/nope")" = 404
test "$(code m.json "$url/score")" = 405
python3 - <<'PY'
import json
h = json.load(open("health.json"))
assert h["status"] == "ok" and h["model_id"], h
r = json.load(open("one_out.json"))
for k in ("claim_id", "action", "p_deny", "score", "threshold", "expected_cost", "evidence", "model_id"):
    assert k in r, (k, r)
assert r["action"] in ("approve", "deny", "review") and 0 <= r["p_deny"] <= 1, r
b = json.load(open("batch_out.json"))
assert len(b) == 5 and [x["line"] for x in b] == [1, 2, 3, 4, 5], b
assert [("error" in x) for x in b] == [False, False, True, False, False], b
assert json.load(open("bad.json"))["error"]
assert json.load(open("invalid.json"))["error"]
print("serve_check: health, one claim, batch of 5 with one error, 400, 413, 422, 404, 405")
PY
kill -TERM "$pid"
for _ in $(seq 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2> /dev/null; then echo "FAIL: still running 5 s after SIGTERM"; exit 1; fi
wait "$pid"
pid=""
grep -q stopped serve.err
echo "serve_check: ok"
