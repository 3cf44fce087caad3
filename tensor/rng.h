/* Counter-based random numbers.
 *
 * Every value is a pure function of (seed, index), so a tensor filled in
 * parallel is the same for any thread count, and a stream can be saved in a
 * checkpoint as two integers. */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stdint.h>

/* A stream: draws advance `counter`; (seed, counter) is its whole state. */
typedef struct tg_rng {
    uint64_t seed;
    uint64_t counter;
} tg_rng;

/* 64 random bits for position `index` of stream `seed`. */
uint64_t tg_rng_bits(uint64_t seed, uint64_t index);

/* Uniform float in [0, 1) for position `index`. */
float tg_rng_uniform_at(uint64_t seed, uint64_t index);

/* Standard normal for position `index` (Box-Muller on two 32-bit halves). */
float tg_rng_normal_at(uint64_t seed, uint64_t index);

/* Next 64 bits of the stream. */
uint64_t tg_rng_next(tg_rng *r);

/* Next uniform in [0, 1). */
double tg_rng_next_uniform(tg_rng *r);

/* Reserves `n` positions of the stream and returns a seed for a counter-based
 * fill over them (used by dropout and random tensor fills). */
uint64_t tg_rng_split(tg_rng *r, uint64_t n);

#endif
