// Definitions shared by the shim's C++ files (not part of the public C interface).
#pragma once
#include "mlx/mlx.h"

struct pt_array_s { mlx::core::array a; };
