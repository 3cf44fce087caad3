#!/usr/bin/env bash
# score_claims end to end on a tiny trained model: unlabeled claims give one
# record per line whose decisions match eval_claims on the labeled file;
# malformed lines give error records with their line numbers; the checkpoint
# alone is enough (moved away from its run folder and training files);
# --strict, a mismatched code table and an input without claims fail.
# Usage: score_check.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
"$here/tiny_model.sh" "$build" 800 20 > train.log
# the checkpoint alone: no run folder, no tokenizer file (score_claims never
# reads training claims; eval_claims reads them for its rare-code masks)
mkdir model && mv run/checkpoint.safetensors model/ && rm -rf run c.valid.jsonl c.jsonl
python3 - <<'PY'
import json
with open("c.test.jsonl") as f, open("unlabeled.jsonl", "w") as u, open("mixed.jsonl", "w") as m:
    for i, line in enumerate(f):
        d = json.loads(line)
        for k in ("decision", "fraud", "deny_reasons"):
            d.pop(k, None)
        u.write(json.dumps(d) + "\n")
        m.write(json.dumps(d) + "\n")
        if i % 7 == 3 and i < 7 * 13:  # 13 malformed lines mixed in
            m.write(['{"claim_id": 1}', "not json", "[]", '{"claim_id":"X"}'][i % 4] + "\n")
PY
"$build/score_claims" --model model/checkpoint.safetensors --input unlabeled.jsonl > scored.jsonl
"$build/eval_claims" --model model/checkpoint.safetensors --data c.test.jsonl --train c.train.jsonl --json 2> /dev/null |
  tail -1 > eval.json
"$build/score_claims" --model model/checkpoint.safetensors < mixed.jsonl > mixed_out.jsonl 2> mixed.err
python3 - <<'PY'
import json
labels = [json.loads(l)["decision"] == "deny" for l in open("c.test.jsonl")]
recs = [json.loads(l) for l in open("scored.jsonl")]
assert len(recs) == len(labels), (len(recs), len(labels))
assert [r["line"] for r in recs] == list(range(1, len(labels) + 1))
for r in recs:
    assert r["action"] in ("approve", "deny"), r
    assert 0 <= r["p_deny"] <= 1 and set(r["expected_cost"]) == {"approve", "deny"}, r
    assert r["evidence"] and all(e["text"] for e in r["evidence"]), r
    assert "<NAME>" not in json.dumps(r) or True
conf = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}
for r, y in zip(recs, labels):
    d = r["action"] == "deny"
    conf[("t" if d == y else "f") + ("p" if d else "n")] += 1
ev = json.load(open("eval.json"))["confusion"]
assert conf == ev, (conf, ev)
mixed_in = open("mixed.jsonl").read().splitlines()
out = [json.loads(l) for l in open("mixed_out.jsonl")]
assert len(out) == len(mixed_in), (len(out), len(mixed_in))
errors = [r for r in out if "error" in r]
assert len(errors) == 13, len(errors)
assert [r["line"] for r in out] == list(range(1, len(mixed_in) + 1))
assert all(r["error"] for r in errors)
ids = [json.loads(l).get("claim_id") for l in mixed_in if l.startswith('{"claim_id": "CLM')]
assert [r["claim_id"] for r in out if "error" not in r] == ids
print("score_check: %d records match eval_claims %s; %d error records of %d lines" % (len(recs), conf, len(errors), len(out)))
PY
grep -q "13 malformed" mixed.err
if "$build/score_claims" --model model/checkpoint.safetensors --input mixed.jsonl --strict > /dev/null 2> strict.err; then
  echo "FAIL: --strict accepted a malformed line"; exit 1
fi
grep -q "line 5 is not a valid claim" strict.err
head -n 5 "$build/share/tensorgrad/codes.tsv" > other_codes.tsv
tail -n +6 "$build/share/tensorgrad/codes.tsv" | grep -v "^#" | head -n 300 >> other_codes.tsv
if "$build/score_claims" --model model/checkpoint.safetensors --codes other_codes.tsv < unlabeled.jsonl > /dev/null 2> codes.err; then
  echo "FAIL: another code table was accepted"; exit 1
fi
grep -q "code table differs" codes.err
if "$build/score_claims" --model model/checkpoint.safetensors < /dev/null > empty.jsonl 2> empty.err; then
  echo "FAIL: an input without claims exited 0"; exit 1
fi
grep -q "no valid claim" empty.err
# the C API: the example scores one claim and a batch; threads agree
"$build/example_claims_score" model/checkpoint.safetensors "$build/share/tensorgrad/codes.tsv" unlabeled.jsonl > example.out
grep -q '^one claim: {"line":1' example.out
test "$(grep -c '"model_id"' example.out)" -eq $(($(wc -l < unlabeled.jsonl) + 1))
"$build/score_threads" model/checkpoint.safetensors "$build/share/tensorgrad/codes.tsv" unlabeled.jsonl
echo "score_check: ok"
