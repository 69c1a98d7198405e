#pragma once
/**
 * Errors that point at what the user wrote.
 *
 * Every problem found in a preset, a parameter or an input names the file, the JSON pointer
 * (RFC 6901) inside it and the node, so a user can go straight to the line to change. The message
 * itself says what was expected and what was found.
 */
#include <filesystem>
#include <stdexcept>
#include <string>

namespace avgraph {

/** Where a problem sits: any field may be empty when it does not apply. */
struct Location {
    std::string file;    ///< preset or input file, as the user named it
    std::string pointer; ///< JSON pointer inside the file, e.g. "/nodes/feat/params/n_mels"
    std::string node;    ///< node id in the preset
    int line = 0;        ///< 1-based, for malformed JSON
    int column = 0;
};

/** The one exception type the engine throws for user-facing problems. */
class Error : public std::runtime_error {
public:
    Error(Location where, const std::string& message);

    const Location& where() const noexcept { return where_; }
    /** The message without the location prefix. */
    const std::string& message() const noexcept { return message_; }

private:
    Location where_;
    std::string message_;
};

/** Formats "file:line:column: /pointer: node 'id': message", leaving out the empty parts. */
std::string formatError(const Location& where, const std::string& message);

/** An Error about a file as a whole (one that cannot be read or written, or holds the wrong thing). */
Error fileError(const std::filesystem::path& file, const std::string& message);

} // namespace avgraph
