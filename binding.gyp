{
  "targets": [
    {
      "target_name": "gpubench",
      "sources": [
        "<!@(node -p \"require('fs').readdirSync('native/addon').filter(f=>f.endsWith('.cc')).map(f=>'native/addon/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/engine').filter(f=>f.endsWith('.cc')).map(f=>'native/engine/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/model').filter(f=>f.endsWith('.cc')).map(f=>'native/model/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/core').filter(f=>f.endsWith('.cc')).map(f=>'native/core/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/base').filter(f=>f.endsWith('.cc')).map(f=>'native/base/'+f).join(' ')\")",
        "<!@(node -p \"require('fs').readdirSync('native/backend/cpu').filter(f=>f.endsWith('.cc')).map(f=>'native/backend/cpu/'+f).join(' ')\")"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags_cc": ["-std=c++17", "-O3", "-fexceptions"],
      "cflags_cc!": ["-fno-exceptions"],
      "xcode_settings": { "GCC_ENABLE_CPP_EXCEPTIONS": "YES", "CLANG_CXX_LANGUAGE_STANDARD": "c++17" },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
