#include "models/claims/text/corpus.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "models/claims/base/strbuf.h"
#include "models/claims/data/scrub.h"

tg_status claims_render(const claims_claim *c, char **text, size_t *len)
{
    size_t header_len, note_start;
    return claims_render_parts(c, text, len, &header_len, &note_start);
}

tg_status claims_render_parts(const claims_claim *c, char **text, size_t *len, size_t *header_len, size_t *note_start)
{
    claims_strbuf b = {0};
    bool ok = claims_sb_printf(&b, "claim | age %d sex %c | provider %s %s | pos %s | prior auth %s | dx",
                               c->patient_age, c->patient_sex, c->provider_specialty, c->provider_id,
                               c->place_of_service, c->prior_auth ? "yes" : "no");
    for (int i = 0; ok && i < c->n_diagnoses; i++) ok = claims_sb_printf(&b, " %s", c->diagnoses[i]);
    ok = ok && claims_sb_printf(&b, " | px");
    for (int i = 0; ok && i < c->n_procedures; i++) {
        const claims_procedure *pr = &c->procedures[i];
        ok = claims_sb_printf(&b, " %s x%d $%.2f", pr->code, pr->units, pr->billed_amount);
        if (ok && pr->fee_ratio > 0) ok = claims_sb_printf(&b, " fee x%.1f", pr->fee_ratio);
        if (ok && pr->pa_required) ok = claims_sb_printf(&b, " needs auth");
    }
    ok = ok && claims_sb_printf(&b, " | history prior %d same day %d duplicate %s", c->history_prior,
                                c->history_same_day, c->history_duplicate ? "yes" : "no");
    *header_len = b.n;
    ok = ok && claims_sb_printf(&b, " | note: ");
    *note_start = b.n;
    claims_scrub_ids ids = {.name = c->patient_name, .member_id = c->member_id, .dob = c->patient_dob};
    size_t note_len = 0;
    char *note = ok ? claims_scrub_text(c->note, c->note_len, &ids, &note_len) : NULL;
    tg_status st = note ? TG_OK : TG_ERR_OOM;
    if (note) ok = claims_sb_put(&b, note, note_len);
    free(note);
    if (st != TG_OK || !ok) {
        free(b.p);
        return st != TG_OK ? st : tg_error(TG_ERR_OOM, "claims_render: out of memory for claim %s", c->claim_id);
    }
    *text = b.p;
    *len = b.n;
    return TG_OK;
}

static float clampf(double x, double lo, double hi) { return (float)(x < lo ? lo : x > hi ? hi : x); }

void claims_claim_features(const claims_claim *c, float f[CLAIMS_N_FEATURES])
{
    double fee = 0, billed = 0;
    int on_pa_list = 0;
    for (int i = 0; i < c->n_procedures; i++) {
        const claims_procedure *pr = &c->procedures[i];
        if (pr->fee_ratio > 0 && (fee == 0 || log(pr->fee_ratio) > fee)) fee = log(pr->fee_ratio);
        on_pa_list += pr->pa_required;
        billed += pr->billed_amount;
    }
    const claims_code_limits *l = &c->limits;
    const float v[CLAIMS_N_FEATURES] = {
        (float)c->patient_age / 100.0f,
        c->patient_sex == 'F',
        c->patient_sex == 'M',
        clampf(fee, -3, 3),
        c->prior_auth,
        clampf(on_pa_list, 0, 3),
        (float)(log1p(c->history_prior) / 4.0),
        (float)log1p(c->history_same_day),
        c->history_duplicate,
        clampf(l->female_only, 0, 3),
        clampf(l->male_only, 0, 3),
        clampf((c->patient_age - l->age_min) / 10.0, -3, 3),
        clampf((l->age_max - c->patient_age) / 10.0, -3, 3),
        clampf(c->n_procedures / 4.0, 0, 3),
        (float)(log1p(billed) / 10.0),
        (float)c->em_level / 5.0f,
        c->provider_em_high,
        c->provider_em_top,
        (float)(log1p(c->provider_em_visits) / 4.0),
    };
    memcpy(f, v, sizeof v);
}

static const claims_claim *pick(const claims_dataset *ds, const size_t *idx, size_t i)
{
    return &ds->claims[idx ? idx[i] : i];
}

/* Encodes one claim as <BOS> header <SEP> note <EOS> into a malloc'd array. */
static tg_status encode_claim(const claims_claim *c, const claims_tokenizer *tok, claims_tok_cache *cache,
                              int32_t **ids, int32_t *n)
{
    char *text;
    size_t len, header_len, note_start;
    TG_TRY(claims_render_parts(c, &text, &len, &header_len, &note_start));
    int32_t *head = NULL, *note = NULL;
    size_t nh = 0, nn = 0;
    claims_encode_opts eo = {.cache = cache};
    tg_status st = claims_tok_encode(tok, text, header_len, &eo, &head, &nh);
    if (st == TG_OK) st = claims_tok_encode(tok, text + note_start, len - note_start, &eo, &note, &nn);
    free(text);
    if (st == TG_OK && !(*ids = malloc(sizeof **ids * (nh + nn + 3))))
        st = tg_error(TG_ERR_OOM, "claims_corpus_build: out of memory");
    if (st == TG_OK) {
        (*ids)[0] = CLAIMS_TOK_BOS;
        if (nh) memcpy(*ids + 1, head, sizeof *head * nh);
        (*ids)[nh + 1] = CLAIMS_TOK_SEP;
        if (nn) memcpy(*ids + nh + 2, note, sizeof *note * nn);
        (*ids)[nh + nn + 2] = CLAIMS_TOK_EOS;
        *n = (int32_t)(nh + nn + 3);
    }
    free(head);
    free(note);
    return st;
}

tg_status claims_corpus_build(const claims_dataset *ds, const size_t *idx, size_t n, const claims_tokenizer *tok,
                              claims_corpus *out)
{
    memset(out, 0, sizeof *out);
    if (!idx) n = ds->n;
    out->n = (int32_t)n;
    out->tokens = calloc(n ? n : 1, sizeof *out->tokens);
    out->len = calloc(n ? n : 1, sizeof *out->len);
    out->label = calloc(n ? n : 1, sizeof *out->label);
    out->fraud = calloc(n ? n : 1, sizeof *out->fraud);
    out->reasons = calloc(n ? n : 1, sizeof *out->reasons);
    out->features = calloc((n ? n : 1) * CLAIMS_N_FEATURES, sizeof *out->features);
    if (!out->tokens || !out->len || !out->label || !out->fraud || !out->reasons || !out->features) {
        claims_corpus_free(out);
        return tg_error(TG_ERR_OOM, "claims_corpus_build: out of memory for %zu claims", n);
    }
    tg_status st = TG_OK;
    claims_tok_cache *cache = claims_tok_cache_create();
    for (size_t i = 0; st == TG_OK && i < n; i++) {
        const claims_claim *c = pick(ds, idx, i);
        out->label[i] = c->deny;
        out->fraud[i] = c->fraud;
        out->reasons[i] = c->deny_reasons;
        claims_claim_features(c, out->features + i * CLAIMS_N_FEATURES);
        st = encode_claim(c, tok, cache, &out->tokens[i], &out->len[i]);
    }
    claims_tok_cache_free(cache);
    if (st != TG_OK) claims_corpus_free(out);
    for (int32_t i = 0; i < out->n; i++) out->total_tokens += out->len[i];
    return st;
}

void claims_corpus_free(claims_corpus *c)
{
    if (!c) return;
    for (int32_t i = 0; c->tokens && i < c->n; i++) free(c->tokens[i]);
    free(c->tokens);
    free(c->len);
    free(c->label);
    free(c->fraud);
    free(c->reasons);
    free(c->features);
    memset(c, 0, sizeof *c);
}

tg_status claims_tokenizer_fit(const claims_dataset *ds, const size_t *idx, size_t n, int32_t vocab_size,
                               const claims_codes *codes, claims_tokenizer **out)
{
    if (!idx) n = ds->n;
    char **texts = calloc(n ? n : 1, sizeof *texts);
    size_t *lens = calloc(n ? n : 1, sizeof *lens);
    const char **code_list = codes ? calloc((size_t)codes->n + 1, sizeof *code_list) : NULL;
    tg_status st =
        texts && lens && (!codes || code_list) ? TG_OK : tg_error(TG_ERR_OOM, "claims_tokenizer_fit: out of memory");
    for (size_t i = 0; st == TG_OK && i < n; i++) st = claims_render(pick(ds, idx, i), &texts[i], &lens[i]);
    for (int i = 0; codes && code_list && i < codes->n; i++) code_list[i] = codes->codes[i].code;
    if (st == TG_OK) {
        claims_tok_train_opts o = {
            .vocab_size = vocab_size, .codes = code_list, .n_codes = codes ? (size_t)codes->n : 0, .min_code_freq = 3};
        st = claims_tok_train((const char *const *)texts, lens, n, &o, out);
    }
    for (size_t i = 0; texts && i < n; i++) free(texts[i]);
    free(texts);
    free(lens);
    free(code_list);
    return st;
}
