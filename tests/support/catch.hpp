#pragma once
// Catch2 v2 or v3, whichever the build found.
#ifdef TAPEGRAD_CATCH2_V3
#include <catch2/catch_all.hpp>
#else
#include <catch2/catch.hpp>
#endif
