{
  "targets": [
    {
      "target_name": "spindle_crc32c",
      "sources": ["src/addon.cc"],
      "defines": ["NAPI_VERSION=8"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
