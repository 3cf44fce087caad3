/* tensorgrad: one include for the whole framework. */
#ifndef TENSORGRAD_H
#define TENSORGRAD_H

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "parallel/parallel.h"
#include "nn/gpt.h"
#include "nn/init.h"
#include "nn/modules.h"
#include "optim/accum.h"
#include "optim/checkpoint.h"
#include "optim/clip.h"
#include "optim/optim.h"
#include "optim/param.h"
#include "optim/dpsgd_accountant.h"
#include "optim/scaler.h"
#include "optim/sched.h"
#include "tensor/arena.h"
#include "tensor/ctx.h"
#include "tensor/rng.h"
#include "tensor/safetensors.h"
#include "tensor/status.h"
#include "tensor/tensor.h"
#include "tensor/version.h"

#endif
