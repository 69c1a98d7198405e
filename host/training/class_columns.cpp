#include "host/training/class_columns.h"

#include "io/message_text.h"

#include <algorithm>
#include <stdexcept>

namespace avgraph::host::training {

std::vector<int64_t> classColumns(const std::vector<std::string>& dataset_classes,
                                  const std::vector<std::string>& model_classes) {
    std::vector<int64_t> columns(dataset_classes.size());
    for (size_t c = 0; c < dataset_classes.size(); ++c) {
        if (model_classes.empty()) {
            columns[c] = static_cast<int64_t>(c);
            continue;
        }
        auto it = std::find(model_classes.begin(), model_classes.end(), dataset_classes[c]);
        if (it == model_classes.end())
            throw std::invalid_argument("the dataset's class \"" + dataset_classes[c] +
                                        "\" is not one of the model's class names (" +
                                        joinNames(model_classes) + ")");
        columns[c] = it - model_classes.begin();
    }
    return columns;
}

} // namespace avgraph::host::training
