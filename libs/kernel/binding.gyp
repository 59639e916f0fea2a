{
  "targets": [
    {
      "target_name": "tcpstate_kernel",
      "sources": [
        "native/addon.cc",
        "native/capture.cc",
        "native/libbpf_log.cc",
        "native/netns.cc",
        "native/strategy_probe.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "../../bpf"],
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++20", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
      "libraries": ["-lbpf", "-lelf", "-lz"]
    }
  ]
}
