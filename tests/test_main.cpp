// The one main() shared by every test executable (compiled once, as an
// OBJECT library); each tests/<unit>_test.cpp holds only test cases.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>

#if defined(CONDUIT_SANITIZE_THREAD)
// moodycamel::ConcurrentQueue orders its block recycling with standalone
// fences, which TSan does not model, so it reports races inside the queue
// between an enqueue and an earlier dequeue of a reused block slot. They are
// known false positives (cameron314/concurrentqueue#49, #62; the header says
// so too). TSan asks every program for these default suppressions.
extern "C" const char* __tsan_default_suppressions() { return "race:concurrentqueue/concurrentqueue.h\n"; }
#endif
