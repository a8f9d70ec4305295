// The CMLX module's umbrella header: every public header of the shim, listed explicitly so that
// adding one changes this file and rebuilds the module (a directory umbrella does not notice).
#ifndef CMLX_UMBRELLA_H
#define CMLX_UMBRELLA_H
#include "cmlx.h"
#include "cmlx_ggml.h"
#include "cmlx_kernels.h"
#include "cmlx_qgemv.h"
#endif
