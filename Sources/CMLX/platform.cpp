// Process-level set-up: choosing OpenBLAS's kernels and reporting which BLAS MLX uses.
#include "cmlx.h"

#include <dlfcn.h>
#include <cstdlib>
#include <cstring>
#include <string>

extern "C" {

bool pt_configure_openblas_env(void) {
#if defined(__x86_64__)
  if (std::getenv("OPENBLAS_CORETYPE") != nullptr) return false;
  // Debian's OpenBLAS 0.3.21 takes some virtualised Xeons for "Prescott" and then runs SSE3
  // kernels at a sixth of the speed; name the core from the CPU's own feature flags instead.
  __builtin_cpu_init();
  const char *core = nullptr;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    core = "SKYLAKEX";
  else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    core = "HASWELL";
  else if (__builtin_cpu_supports("avx"))
    core = "SANDYBRIDGE";
  if (core == nullptr) return false;
  setenv("OPENBLAS_CORETYPE", core, 1);
  return true;
#else
  return false;
#endif
}

const char *pt_blas_name(void) {
  static thread_local std::string name;
  void *sym = dlsym(RTLD_DEFAULT, "cblas_sgemm");
  Dl_info info;
  if (sym == nullptr || dladdr(sym, &info) == 0 || info.dli_fname == nullptr) return "unknown";
  name = info.dli_fname;
  if (name.find("openblas") != std::string::npos) name = "openblas (" + name + ")";
  else if (name.find("libblas-") != std::string::npos) name = "reference (" + name + ")";
  return name.c_str();
}

}  // extern "C"
