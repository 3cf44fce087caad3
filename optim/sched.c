/* Learning-rate schedules as pure functions of the (1-based) step. */
#include <math.h>
#include <string.h>

#include "optim/sched.h"

static const char *const kind_names[] = {
    [TG_SCHED_CONSTANT] = "constant",
    [TG_SCHED_NOAM] = "noam",
    [TG_SCHED_COSINE] = "cosine",
    [TG_SCHED_STEP] = "step",
};
#define N_KINDS ((int)(sizeof kind_names / sizeof kind_names[0]))

/* Warmup ramp factor, 1 once step >= warmup. */
static double warmup_factor(int64_t step, int64_t warmup)
{
    return step < warmup ? (double)step / (double)warmup : 1.0;
}

double tg_sched_noam(int64_t step, double factor, int64_t d_model, int64_t warmup)
{
    if (d_model < 1 || warmup < 1) return NAN;
    if (step <= 0) return 0.0;
    double s = (double)step;
    return factor / sqrt((double)d_model) * fmin(1.0 / sqrt(s), s * pow((double)warmup, -1.5));
}

double tg_sched_cosine(int64_t step, double lr, int64_t warmup, int64_t total, double min_lr)
{
    if (warmup < 0 || total <= warmup) return NAN;
    if (step < 0) step = 0;
    if (step < warmup) return lr * warmup_factor(step, warmup);
    double progress = fmin((double)(step - warmup) / (double)(total - warmup), 1.0);
    return min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(M_PI * progress));
}

double tg_sched_step_decay(int64_t step, double lr, int64_t warmup, double gamma, int64_t every)
{
    if (warmup < 0 || every < 1) return NAN;
    if (step < 0) step = 0;
    if (step < warmup) return lr * warmup_factor(step, warmup);
    int64_t start = warmup > 1 ? warmup : 1;
    int64_t k = step < start ? 0 : (step - start) / every;
    return lr * pow(gamma, (double)k);
}

double tg_sched_constant(int64_t step, double lr, int64_t warmup)
{
    if (warmup < 0) return NAN;
    if (step < 0) step = 0;
    return lr * warmup_factor(step, warmup);
}

tg_status tg_sched_kind_parse(const char *name, tg_sched_kind *kind)
{
    for (int k = 0; name && k < N_KINDS; k++)
        if (!strcmp(name, kind_names[k])) {
            *kind = (tg_sched_kind)k;
            return TG_OK;
        }
    return tg_error(TG_ERR_INVALID,
                    "tg_sched_kind_parse: unknown scheduler '%s' (expected noam, cosine, step or constant)",
                    name ? name : "(null)");
}

const char *tg_sched_kind_name(tg_sched_kind kind)
{
    return (int)kind >= 0 && (int)kind < N_KINDS ? kind_names[kind] : "?";
}

tg_status tg_sched_check(const tg_sched *s)
{
    if (!s) return tg_error(TG_ERR_INVALID, "tg_sched_check: NULL schedule");
    const char *k = tg_sched_kind_name(s->kind);
    if ((int)s->kind < 0 || (int)s->kind >= N_KINDS)
        return tg_error(TG_ERR_INVALID, "tg_sched_check: unknown kind %d", (int)s->kind);
    if (!(s->lr >= 0 && isfinite(s->lr)))
        return tg_error(TG_ERR_INVALID, "tg_sched_check: %s lr %g must be finite and >= 0", k, s->lr);
    if (s->warmup < (s->kind == TG_SCHED_NOAM ? 1 : 0))
        return tg_error(TG_ERR_INVALID, "tg_sched_check: %s warmup %lld must be >= %d", k, (long long)s->warmup,
                        s->kind == TG_SCHED_NOAM ? 1 : 0);
    switch (s->kind) {
    case TG_SCHED_NOAM:
        if (s->d_model < 1)
            return tg_error(TG_ERR_INVALID, "tg_sched_check: noam d_model %lld must be >= 1", (long long)s->d_model);
        break;
    case TG_SCHED_COSINE:
        if (s->total_steps <= s->warmup)
            return tg_error(TG_ERR_INVALID, "tg_sched_check: cosine total_steps %lld must be > warmup %lld",
                            (long long)s->total_steps, (long long)s->warmup);
        if (!(s->min_lr >= 0 && s->min_lr <= s->lr))
            return tg_error(TG_ERR_INVALID, "tg_sched_check: cosine min_lr %g must be in [0, lr %g]", s->min_lr, s->lr);
        break;
    case TG_SCHED_STEP:
        if (!(s->gamma > 0 && isfinite(s->gamma)))
            return tg_error(TG_ERR_INVALID, "tg_sched_check: step gamma %g must be finite and > 0", s->gamma);
        if (s->every < 1)
            return tg_error(TG_ERR_INVALID, "tg_sched_check: step every %lld must be >= 1", (long long)s->every);
        break;
    case TG_SCHED_CONSTANT: break;
    }
    return TG_OK;
}

double tg_sched_lr(const tg_sched *s, int64_t step)
{
    if (tg_sched_check(s) != TG_OK) return NAN;
    switch (s->kind) {
    case TG_SCHED_NOAM: return tg_sched_noam(step, s->lr, s->d_model, s->warmup);
    case TG_SCHED_COSINE: return tg_sched_cosine(step, s->lr, s->warmup, s->total_steps, s->min_lr);
    case TG_SCHED_STEP: return tg_sched_step_decay(step, s->lr, s->warmup, s->gamma, s->every);
    case TG_SCHED_CONSTANT: break;
    }
    return tg_sched_constant(step, s->lr, s->warmup);
}
