# node-gyp build of the CPU addon, for machines with a C++17 compiler but no CMake (the install hook
# falls back to it; `npm run build:gyp` runs it by hand, replacing build/). It mirrors CMakeLists.txt:
# the same sources (test/package-gyp-sources.test.ts keeps the two lists equal), the same defines,
# and the SIMD kernel files compiled once per instruction set (one static library per level, since
# gyp gives per-file flags only per target), picked at run time by native/cpu/simd_dispatch.cpp.
# The CUDA addon is built by CMake only.
{
  'variables': {
    # x86-64 gets the baseline, AVX2 and AVX-512 variants; other architectures the baseline alone.
    'pagedinfer_simd_variants%': '<!(node -p "process.arch === \'x64\' ? 1 : 0")',
  },
  'target_defaults': {
    'include_dirs': ['native'],
    'cflags_cc': ['-std=c++17', '-O3', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Wno-psabi', '-ffp-contract=off'],
    'cflags_cc!': ['-std=gnu++17', '-std=gnu++20', '-fno-exceptions', '-fno-rtti'],
    'cflags!': ['-fno-exceptions'],
    'xcode_settings': {
      'CLANG_CXX_LANGUAGE_STANDARD': 'c++17',
      'GCC_ENABLE_CPP_EXCEPTIONS': 'YES',
      'GCC_ENABLE_CPP_RTTI': 'YES',
    },
  },
  'targets': [
    {
      'target_name': 'pagedinfer_simd_baseline',
      'type': 'static_library',
      'sources': ['native/cpu/simd_kernels.cpp', 'native/cpu/simd_quant.cpp', 'native/cpu/simd_quant_dot.cpp'],
      'defines': ['PAGEDINFER_SIMD_LEVEL=baseline'],
    },
    {
      'target_name': 'pagedinfer_cpu',
      'type': 'loadable_module',
      'product_extension': 'node',
      'sources': [
        'native/core/dtype.cpp',
        'native/core/quant.cpp',
        'native/core/mapped_file.cpp',
        'native/core/model.cpp',
        'native/core/warmup.cpp',
        'native/core/sampler.cpp',
        'native/core/random_blocks.cpp',
        'native/core/thread_pool.cpp',
        'native/cpu/cpu_backend.cpp',
        'native/cpu/matmul.cpp',
        'native/cpu/norm.cpp',
        'native/cpu/elementwise.cpp',
        'native/cpu/rope_cache.cpp',
        'native/cpu/attention.cpp',
        'native/cpu/sampling.cpp',
        'native/cpu/ceilings.cpp',
        'native/cpu/simd_dispatch.cpp',
        'native/addon/addon.cpp',
        'native/addon/model_wrap.cpp',
        'native/addon/step_batch.cpp',
        'native/addon/js_errors.cpp',
        'native/addon/backend_cpu.cpp',
      ],
      'defines': ['NAPI_VERSION=8', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
      # node_addon_api_except: node-addon-api's include dir and C++ exceptions on (NAPI_CPP_EXCEPTIONS).
      'dependencies': [
        '<!(node -p "require(\'node-addon-api\').targets"):node_addon_api_except',
        'pagedinfer_simd_baseline',
      ],
      'cflags': ['-pthread'],
      'ldflags': ['-pthread'],
      'conditions': [
        ['pagedinfer_simd_variants==1', {
          'defines': ['PAGEDINFER_SIMD_VARIANTS'],
          'dependencies': ['pagedinfer_simd_avx2', 'pagedinfer_simd_avx512'],
        }],
      ],
    },
  ],
  'conditions': [
    ['pagedinfer_simd_variants==1', {
      'targets': [
        {
          'target_name': 'pagedinfer_simd_avx2',
          'type': 'static_library',
          'sources': ['native/cpu/simd_kernels.cpp', 'native/cpu/simd_quant.cpp', 'native/cpu/simd_quant_dot.cpp'],
          'defines': ['PAGEDINFER_SIMD_LEVEL=avx2'],
          'cflags_cc': ['-mavx2', '-mfma', '-mf16c'],
        },
        {
          'target_name': 'pagedinfer_simd_avx512',
          'type': 'static_library',
          'sources': ['native/cpu/simd_kernels.cpp', 'native/cpu/simd_quant.cpp', 'native/cpu/simd_quant_dot.cpp'],
          'defines': ['PAGEDINFER_SIMD_LEVEL=avx512'],
          'cflags_cc': ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512vnni', '-mavx2', '-mfma', '-mf16c', '-Wno-maybe-uninitialized'],
        },
      ],
    }],
  ],
}
