{
  "targets": [
    {
      "target_name": "gpubench",
      "sources": [
        "<!@(node scripts/cmake-sources.mjs BASE CPU_BACKEND CORE MODEL ENGINE ADDON)"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS", "GPUBENCH_GIT_COMMIT=\"<!(node scripts/git-commit.mjs)\""],
      "libraries": ["-ldl"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
