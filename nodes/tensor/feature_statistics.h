#pragma once
/**
 * Stored feature statistics (a mean and a standard deviation) for tensor.normalize's mode "stats",
 * read from the file a preset names:
 *
 *   - JSON: {"mean": M, "std": S}, each a number or a (nested) array of numbers;
 *   - NumPy .npy (float32 or float64, C order): one array of shape [2, ...] holding the mean at index 0
 *     and the standard deviation at index 1 (np.save(path, np.stack([mean, std]))).
 *
 * The shape of the mean and std (they must agree) is that of a feature frame: [] for one value for
 * everything, [bin] per bin, [channel, bin] per channel and bin. The normalising node appends the
 * frame axis and broadcasts them against [batch, ..., bin, frame].
 */
#include <torch/types.h>

#include <filesystem>

namespace avgraph::nodes {

struct FeatureStatistics {
    torch::Tensor mean; ///< float64, CPU
    torch::Tensor std;  ///< float64, CPU, same shape, every value > 0
};

/**
 * Reads statistics from a .json or .npy file (by extension).
 * @throws std::invalid_argument naming the file and what is wrong with it.
 */
FeatureStatistics loadFeatureStatistics(const std::filesystem::path& file);

} // namespace avgraph::nodes
