/* A member's claims history, built one claim at a time: what a claims
 * system's history lookup answers for a new claim (earlier claims of the
 * member, same-day claims, an exact duplicate of an earlier claim). The
 * dataset loader and the streaming scorer both use it, so a claim gets the
 * same history fields in either. Memory grows with the distinct members,
 * member-days and services seen (a few dozen bytes each). */
#ifndef CLAIMS_HISTORY_H
#define CLAIMS_HISTORY_H

#include "models/claims/base/hashmap.h"
#include "models/claims/data/claim.h"
#include "tensor/status.h"

typedef struct claims_history {
    claims_strmap members;  /* member_id -> claims seen */
    claims_strmap days;     /* member_id, first service date -> claims seen */
    claims_strmap services; /* the whole service signature -> seen */
} claims_history;

/* Fills c's history_prior, history_same_day and history_duplicate from the
 * claims observed before, then records c. TG_ERR_OOM only (c is then not
 * recorded). */
tg_status claims_history_observe(claims_history *h, claims_claim *c);

void claims_history_free(claims_history *h);

#endif
