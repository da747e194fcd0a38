#pragma once
// tapegrad's version, the one place it is written: CMakeLists.txt reads project(VERSION) from
// the three numbers below, so the installed package, tapegrad.pc and the headers cannot disagree.
// Keep each number on its own "#define TAPEGRAD_VERSION_<PART> <digits>" line for that reason.
#define TAPEGRAD_VERSION_MAJOR 0
#define TAPEGRAD_VERSION_MINOR 1
#define TAPEGRAD_VERSION_PATCH 0

// "MAJOR.MINOR.PATCH", built from the numbers above so that it cannot drift from them.
#define TAPEGRAD_VERSION_STRINGIFY_(x) #x
#define TAPEGRAD_VERSION_STRINGIFY(x) TAPEGRAD_VERSION_STRINGIFY_(x)
#define TAPEGRAD_VERSION                                     \
  TAPEGRAD_VERSION_STRINGIFY(TAPEGRAD_VERSION_MAJOR) "."     \
  TAPEGRAD_VERSION_STRINGIFY(TAPEGRAD_VERSION_MINOR) "."     \
  TAPEGRAD_VERSION_STRINGIFY(TAPEGRAD_VERSION_PATCH)

// One integer that orders versions, for #if: 1.2.3 is 10203 (MINOR and PATCH stay below 100).
#define TAPEGRAD_VERSION_NUMBER \
  (TAPEGRAD_VERSION_MAJOR * 10000 + TAPEGRAD_VERSION_MINOR * 100 + TAPEGRAD_VERSION_PATCH)
