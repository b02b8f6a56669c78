# The same addon as CMakeLists.txt, built by node-gyp from the same sources against the same
# libtorch (scripts/find-libtorch.mjs answers the <!(...) queries). Build it with
# `npm run build:gyp`; npm does not run node-gyp by itself ("gypfile": false in package.json).
{
  "targets": [
    {
      "target_name": "ftplan",
      "sources": [
        "<!@(node -e \"const fs=require('fs');process.stdout.write(['native','native/js'].flatMap(d=>fs.readdirSync(d).filter(f=>f.endsWith('.cpp')).sort().map(f=>d+'/'+f)).join(' '))\")"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.mjs --gyp include)"
      ],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "<!@(node scripts/find-libtorch.mjs --gyp defines)"
      ],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-fno-math-errno"],
      "libraries": [
        "-L<!(node scripts/find-libtorch.mjs --gyp libdir)",
        "<!@(node scripts/find-libtorch.mjs --gyp libs)",
        "<!@(node scripts/find-libtorch.mjs --gyp rpath)"
      ]
    }
  ]
}
