/* Tape node and tape internals shared by op.c and tape.c. */
#ifndef TG_NODE_H
#define TG_NODE_H

#include "autograd/autograd.h"
#include "tensor/tensor_impl.h"

#define TG_MAX_SAVED 8

struct tg_node {
    const tg_op *op;
    int op_id; /* registry index, for profiling */
    int n_in;
    const tg_tensor **in;
    tg_tensor *out;
    const void *attr;
    const tg_tensor *saved[TG_MAX_SAVED];
    int n_saved;
    bool recording;
    bool released;  /* a backward without retain_graph ran over it */
    unsigned fresh; /* during backward: bit i set when din[i] is fresh (tg_op_grad_fresh) */
    size_t index;   /* position on the tape */
};

/* Appends a node to the current context's tape. */
tg_status tg_tape_push(struct tg_node *n);

/* The current tape's nodes (valid until it changes); *n gets their count. */
struct tg_node *const *tg_tape_nodes(size_t *n);

/* Registry index of an op, or -1 when not registered. */
int tg_op_id(const tg_op *op);

/* Adds elapsed nanoseconds to an op's profile (backward when bwd). */
void tg_profile_add(int op_id, bool bwd, long long ns);
bool tg_profile_on(void);
long long tg_now_ns(void);

/* Registers the built-in ops once (called by tg_op_find/tg_apply). */
void tg_builtin_ops_init(void);

#endif
