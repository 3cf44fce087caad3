#include "models/claims/data/history.h"

#include <string.h>

#include "models/claims/base/strbuf.h"

/* Key fields joined by a byte that no field holds (fields are JSON strings
 * read as C strings, so they hold no NUL; 0x1f is the ASCII unit separator). */
static void key_add(claims_strbuf *k, const char *field)
{
    claims_sb_puts(k, field);
    claims_sb_put(k, "\x1f", 1);
}

/* member, first service date: the same-day group. */
static void day_key(claims_strbuf *k, const claims_claim *c)
{
    key_add(k, c->member_id);
    key_add(k, c->service_date_from);
}

/* Everything a duplicate repeats: member, provider, dates, diagnoses, and
 * procedures with their units. */
static void service_key(claims_strbuf *k, const claims_claim *c)
{
    day_key(k, c);
    key_add(k, c->provider_id);
    key_add(k, c->service_date_to);
    claims_sb_printf(k, "%d\x1f%d\x1f", c->n_diagnoses, c->n_procedures);
    for (int i = 0; i < c->n_diagnoses; i++) key_add(k, c->diagnoses[i]);
    for (int i = 0; i < c->n_procedures; i++)
        claims_sb_printf(k, "%s\x1f%d\x1f", c->procedures[i].code, c->procedures[i].units);
}

/* The count stored under key before this claim, incremented; -1 on OOM. */
static int64_t count_up(claims_strmap *m, const claims_strbuf *k)
{
    int64_t e = k->oom ? -1 : claims_strmap_add(m, k->p, k->n, 0, NULL);
    if (e < 0) return -1;
    return m->val[e]++;
}

tg_status claims_history_observe(claims_history *h, claims_claim *c)
{
    claims_strbuf member = {0}, day = {0}, service = {0};
    key_add(&member, c->member_id);
    day_key(&day, c);
    service_key(&service, c);
    int64_t prior = count_up(&h->members, &member);
    int64_t same_day = prior < 0 ? -1 : count_up(&h->days, &day);
    int64_t dup = same_day < 0 ? -1 : count_up(&h->services, &service);
    claims_sb_free(&member), claims_sb_free(&day), claims_sb_free(&service);
    if (dup < 0) return tg_error(TG_ERR_OOM, "claims_history: out of memory for claim %s", c->claim_id);
    c->history_prior = (int)(prior < INT32_MAX ? prior : INT32_MAX);
    c->history_same_day = (int)(same_day < INT32_MAX ? same_day : INT32_MAX);
    c->history_duplicate = dup > 0;
    return TG_OK;
}

void claims_history_free(claims_history *h)
{
    claims_strmap_free(&h->members);
    claims_strmap_free(&h->days);
    claims_strmap_free(&h->services);
}
