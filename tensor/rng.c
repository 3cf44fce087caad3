#include "tensor/rng.h"

#include <math.h>

/* Two rounds of the splitmix64 finalizer over seed and index: cheap, and
 * passes the statistical needs of init and dropout. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t tg_rng_bits(uint64_t seed, uint64_t index)
{
    return mix(mix(seed + 0x9e3779b97f4a7c15ULL) ^ (index * 0xd1b54a32d192ed03ULL + 1));
}

float tg_rng_uniform_at(uint64_t seed, uint64_t index)
{
    return (float)(tg_rng_bits(seed, index) >> 40) * (1.0f / 16777216.0f);
}

float tg_rng_normal_at(uint64_t seed, uint64_t index)
{
    uint64_t b = tg_rng_bits(seed, index);
    double u1 = ((double)(b >> 32) + 1.0) / 4294967297.0; /* (0, 1] */
    double u2 = (double)(b & 0xffffffffu) / 4294967296.0;
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

uint64_t tg_rng_next(tg_rng *r) { return tg_rng_bits(r->seed, r->counter++); }

double tg_rng_next_uniform(tg_rng *r) { return (double)(tg_rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

uint64_t tg_rng_split(tg_rng *r, uint64_t n)
{
    uint64_t s = tg_rng_next(r);
    r->counter += n;
    return s;
}
