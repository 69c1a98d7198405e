#pragma once
/**
 * Which output column of a classifier holds which of a dataset's classes.
 *
 * A model that names its classes (a value's class_names, e.g. from its preset) is matched by name, so
 * a network trained on the classes in another order, or on more classes, still scores each clip
 * against the right one. A model that names none gives the dataset's classes in their order. Training
 * (the loss reads the logits' columns) and evaluation (the probabilities) share it.
 */
#include <cstdint>
#include <string>
#include <vector>

namespace avgraph::host::training {

/**
 * column[c]: the model's output column of dataset class c. `model_classes` empty: column[c] = c.
 * Throws std::invalid_argument naming a dataset class the model does not name (callers locate it:
 * at the node or at the preset's output).
 */
std::vector<int64_t> classColumns(const std::vector<std::string>& dataset_classes,
                                  const std::vector<std::string>& model_classes);

} // namespace avgraph::host::training
