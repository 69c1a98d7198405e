// TripleBuffer: a reader on another thread only ever sees whole values, newest last, never one twice.
#include "plugins/analysis/triple_buffer.h"

#include <catch2/catch.hpp>

#include <thread>

TEST_CASE("TripleBuffer hands whole values from one thread to another", "[plugin]") {
    struct Pair {
        int64_t a = -1, b = -1; // written one after the other: a torn value has a != b
    };
    avgraph::plugin::TripleBuffer<Pair> buffer;
    CHECK_FALSE(buffer.update()); // nothing published yet
    constexpr int64_t kValues = 200000;
    std::thread writer([&] {
        for (int64_t i = 0; i < kValues; ++i) {
            buffer.write().a = i;
            buffer.write().b = i;
            buffer.publish();
        }
    });
    int64_t last = -1, seen = 0, torn = 0, backwards = 0;
    while (last < kValues - 1) {
        if (!buffer.update())
            continue;
        const Pair& p = buffer.read();
        torn += p.a != p.b;
        backwards += p.a <= last;
        last = p.a;
        ++seen;
    }
    writer.join();
    CHECK(torn == 0);
    CHECK(backwards == 0);
    CHECK(seen >= 1);
    CHECK(last == kValues - 1);
    CHECK_FALSE(buffer.update()); // the newest was taken: nothing fresh
}
