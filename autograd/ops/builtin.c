/* Registers the built-in op families through the public tg_op_register,
 * exactly as a user's custom op is registered. */
#include <pthread.h>

#include "autograd/node.h"
#include "autograd/ops/ops_internal.h"

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void register_all(void)
{
    tg_status (*const families[])(void) = {
        tg_register_eltwise_ops, tg_register_binary_ops,  tg_register_reduce_ops, tg_register_loss_ops,
        tg_register_cast_ops,    tg_register_softmax_ops, tg_register_norm_ops,   tg_register_cross_entropy_ops,
        tg_register_shape_ops,   tg_register_slice_ops,   tg_register_where_ops,  tg_register_embedding_ops,
        tg_register_dropout_ops, tg_register_matmul_ops,  tg_register_linear_ops, tg_register_attention_ops,
        tg_register_mlp_ops,
    };
    for (size_t i = 0; i < sizeof families / sizeof families[0]; i++)
        TG_ASSERT(families[i]() == TG_OK, "a built-in op failed to register (duplicate name?)");
}

void tg_builtin_ops_init(void) { pthread_once(&once, register_all); }
