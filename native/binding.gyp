{
  "targets": [
    {
      "target_name": "bnas_native",
      "sources": [
        "src/addon.cc",
        "src/conv_dnnl.cc",
        "src/pool.cc",
        "src/binary_conv.cc",
        "src/elementwise.cc",
        "src/batchnorm.cc",
        "src/binary_block.cc",
        "src/binarize.cc",
        "src/packed/binconv.cc",
        "src/packed/float_ops.cc",
        "src/packed/float_conv.cc",
        "src/packed/session.cc",
        "src/packed/team.cc",
        "src/packed/napi_session.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NODE_ADDON_API_DISABLE_DEPRECATED", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-O3", "-fopenmp", "-fexceptions", "-ffp-contract=off", "-Wall", "-Wno-unused-parameter", "-Wno-maybe-uninitialized"],
      # -z nodelete: Node unloads an addon that only a worker thread loaded when that worker exits; OpenMP's pool
      # threads would then run unmapped code (segfault at exit). Keeping it loaded is what a process-wide runtime needs.
      "ldflags": ["-fopenmp", "-Wl,-z,nodelete"],
      "libraries": ["-ldnnl", "-fopenmp"],
      "conditions": [
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
