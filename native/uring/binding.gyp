{
  "targets": [
    {
      "target_name": "spindle_uring",
      "sources": ["src/addon.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "_FILE_OFFSET_BITS=64", "_GNU_SOURCE"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "libraries": ["-l:liburing.a"]
    }
  ]
}
