// The Catch2 runner shared by the test executables.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
