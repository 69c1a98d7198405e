#pragma once
// Images, video frames and the audio of any container, decoded with FFmpeg (libavformat, libavcodec,
// libswscale, libswresample), the decoders Debian ships for every common codec: JPEG, PNG, WebP, H.264,
// VP8/9, MJPEG, AAC, MP3, Vorbis, Opus, ... Like io/audio_file.h this is file I/O, so it lives in the
// host: nodes receive tensors.
//
//     auto photo = avgraph::host::readImage("dog.jpg");                 // [3, H, W] uint8 RGB
//     auto video = avgraph::host::readVideoFrames("clip.mp4", 4, 128, 128);  // 4 frames a second
//     auto sound = avgraph::host::readMediaAudio("clip.mp4");          // [channels, samples] float32
//
// Errors are avgraph::Error (a std::runtime_error) whose message starts with the path and carries FFmpeg's own reason
// (av_strerror), like io/audio_file.h's.

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace avgraph::host {

/**
 * Decodes the first picture of an image file (JPEG, PNG, BMP, WebP, ... whatever FFmpeg's image demuxers
 * read) at its own size as [3, H, W] uint8 RGB. Alpha is dropped; EXIF orientation is not applied (the
 * pixels are returned as stored).
 */
torch::Tensor readImage(const std::filesystem::path& file);

/**
 * Writes [3, H, W] RGB as an 8-bit PNG with FFmpeg's png encoder. uint8 is written as is; a floating
 * tensor must hold [0, 255] and is clamped to it and rounded to the nearest integer. The file appears
 * whole or not at all: written to a temporary file beside it, then renamed over it.
 */
void writePng(const std::filesystem::path& file, const torch::Tensor& rgb);

/** Frames sampled from a video at a fixed rate. */
struct VideoFrames {
    torch::Tensor frames;      ///< [N, 3, H, W] uint8 RGB
    std::vector<double> times; ///< seconds of each frame from the start of the video stream
    double duration = 0.0;     ///< seconds of the video stream (the container's when the stream has none)
};

/**
 * Samples a video's picture at `fps` frames a second: frame k shows the video at t = (k + 0.5) / fps, for
 * k = 0, 1, ... while t < duration, i.e. at the middle of each 1/fps interval. The picture at t is the one
 * on screen then: the last decoded frame whose presentation time is <= t (the first frame for a t before
 * it). Every frame of the stream is decoded (no seeking), and only the sampled ones are converted.
 *
 * Frames are resized with libswscale (bicubic) to exactly `width` x `height`, without keeping the aspect
 * ratio, so that a dataset gets one fixed size; 0 for both keeps the native size. Setting only one of
 * them is an error.
 *
 * @throws std::runtime_error naming the file when it has no video stream, cannot be decoded, or is
 *         shorter than half a frame interval (no sample time falls inside it); std::invalid_argument for
 *         fps <= 0 or a negative size.
 */
VideoFrames readVideoFrames(const std::filesystem::path& file, double fps, int64_t width = 0,
                            int64_t height = 0);

/** Seconds of a file's video stream (the container's duration when the stream declares none), read from
 *  the headers without decoding; what readVideoFrames samples over. */
double videoDuration(const std::filesystem::path& file);

/** The audio of a media file, as it was stored. */
struct MediaAudio {
    torch::Tensor samples;    ///< [channels, samples] float32, contiguous
    double sample_rate = 0.0; ///< the stream's own rate: nothing is resampled
    std::string format;       ///< container and codec, e.g. "mov,mp4,m4a,3gp,3g2,mj2/aac", for logs
};

/**
 * Decodes the best audio stream of a file (av_find_best_stream) whatever its codec and sample format;
 * planar or interleaved samples become float32 through libswresample, at the stream's own rate and
 * channel count. Integer samples are scaled to [-1, 1) (16-bit: divided by 32768, as libsndfile does).
 *
 * @throws std::runtime_error starting with the path and carrying FFmpeg's reason when the file cannot be
 *         opened, has no audio stream, or yields no samples.
 */
MediaAudio readMediaAudio(const std::filesystem::path& file);

} // namespace avgraph::host
