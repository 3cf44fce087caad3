/* The adjudication vocabulary shared by every layer: the reasons a claim is
 * denied for and the cost matrix of the two decisions. Costs are indexed
 * [true][predicted] with 0 = approve, 1 = deny: c[0][1] is a false
 * rejection, c[1][0] a false approval. */
#ifndef CLAIMS_DECISION_H
#define CLAIMS_DECISION_H

#include <stdbool.h>

typedef enum claims_deny_reason {
    CLAIMS_DENY_MISMATCH = 0,
    CLAIMS_DENY_SEX,
    CLAIMS_DENY_AGE,
    CLAIMS_DENY_DUPLICATE,
    CLAIMS_DENY_NO_AUTH,
    CLAIMS_DENY_AMOUNT,
    CLAIMS_DENY_UPCODE,
    CLAIMS_N_DENY_REASONS
} claims_deny_reason;

/* Short name of a deny reason ("mismatch", "sex", ...); "?" out of range. */
const char *claims_deny_reason_name(claims_deny_reason r);

/* The reason named s; false when s names none. */
bool claims_deny_reason_parse(const char *s, claims_deny_reason *out);

typedef struct claims_costs {
    double c[2][2];
} claims_costs;

/* The default: false rejection 5, false approval 1, correct decisions 0. */
claims_costs claims_costs_default(void);

#endif
