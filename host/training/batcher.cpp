#include "host/training/batcher.h"

#include "io/message_text.h"

#include <cstdio>

namespace avgraph::host::training {

std::string shapeKey(const std::map<std::string, Value>& values) {
    std::string key;
    for (const auto& [name, v] : values) {
        char rate[32]; // hexadecimal: exact, so equal keys mean equal rates
        std::snprintf(rate, sizeof rate, "%a", v.sample_rate);
        key += name + " @ " + rate + " " + shapeText(v.tensor) + "\n";
    }
    return key;
}

} // namespace avgraph::host::training
