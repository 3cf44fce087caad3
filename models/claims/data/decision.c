#include "models/claims/data/decision.h"

#include <string.h>

static const char *reason_names[] = {"mismatch", "sex", "age", "duplicate", "no_auth", "amount", "upcode"};

const char *claims_deny_reason_name(claims_deny_reason r)
{
    return (unsigned)r < CLAIMS_N_DENY_REASONS ? reason_names[r] : "?";
}

bool claims_deny_reason_parse(const char *s, claims_deny_reason *out)
{
    for (int r = 0; r < CLAIMS_N_DENY_REASONS; r++)
        if (!strcmp(s, reason_names[r])) {
            *out = (claims_deny_reason)r;
            return true;
        }
    return false;
}

claims_costs claims_costs_default(void) { return (claims_costs){.c = {{0.0, 5.0}, {1.0, 0.0}}}; }
