{
  "targets": [
    {
      "target_name": "spindle_fuse",
      "sources": ["src/addon.cc"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "defines": ["NAPI_VERSION=8", "FUSE_USE_VERSION=35", "_FILE_OFFSET_BITS=64"],
      "cflags_cc": ["-std=c++17", "-O2", "<!@(pkg-config --cflags fuse3)"],
      "libraries": ["<!@(pkg-config --libs fuse3)"]
    }
  ]
}
