// The one main() shared by every test executable (compiled once, as an
// OBJECT library); each tests/<unit>_test.cpp holds only test cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
