/* tensorgrad: one include for the whole framework. */
#ifndef TENSORGRAD_H
#define TENSORGRAD_H

#include "autograd/autograd.h"
#include "autograd/gradcheck.h"
#include "autograd/op.h"
#include "autograd/ops.h"
#include "tensor/arena.h"
#include "tensor/ctx.h"
#include "tensor/rng.h"
#include "tensor/status.h"
#include "tensor/tensor.h"

#endif
