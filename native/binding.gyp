{
  # with_dnnl=1: convolutions on oneDNN (libdnnl-dev); 0: the addon's own direct conv kernels, so a C++ compiler alone
  # builds it. scripts/build-native.js passes -Dwith_dnnl=0|1 after looking for oneDNN's headers.
  "variables": { "with_dnnl%": 1 },
  "targets": [
    {
      "target_name": "bnas_native",
      "sources": [
        "src/addon.cc",
        "src/pool.cc",
        "src/pool_grad.cc",
        "src/binary_conv.cc",
        "src/elementwise.cc",
        "src/batchnorm.cc",
        "src/binary_block.cc",
        "src/binarize.cc",
        "src/packed/binconv.cc",
        "src/packed/binconv_amx.cc",
        "src/packed/float_ops.cc",
        "src/packed/session.cc",
        "src/packed/team.cc",
        "src/packed/napi_session.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      # -fno-trapping-math: without it GCC keeps a branch in loops like dy·(ref > 0) (it may not speculate a multiply
      # that could raise an FP exception flag nothing here reads), so they stay scalar and mispredict: the ReLU-mask
      # gradient took 1.5 ms instead of 0.07 ms on 262K values. Values are unchanged (IEEE results, no FMA contraction).
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-ffp-contract=off", "-fno-trapping-math", "-Wall", "-Wno-unused-parameter", "-Wno-maybe-uninitialized"],
      # -z nodelete: Node unloads an addon that only a worker thread loaded when that worker exits; OpenMP's pool
      # threads would then run unmapped code (segfault at exit). Keeping it loaded is what a process-wide runtime needs.
      "ldflags": ["-fopenmp", "-Wl,-z,nodelete"],
      "libraries": ["-fopenmp"],
      "conditions": [
        ["with_dnnl==1", {
          "sources": ["src/conv_dnnl.cc", "src/conv_own_kernels.cc", "src/packed/float_conv.cc"],
          "libraries": ["-ldnnl"],
          "defines": ["BNAS_WITH_DNNL=1"]
        }, {
          "sources": ["src/conv_own.cc", "src/conv_own_kernels.cc", "src/packed/float_conv_own.cc"]
        }],
        ["OS=='mac'", {
          "xcode_settings": {
            "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
            "OTHER_CPLUSPLUSFLAGS": ["-std=c++17", "-O3", "-Xpreprocessor", "-fopenmp"]
          }
        }]
      ]
    }
  ]
}
