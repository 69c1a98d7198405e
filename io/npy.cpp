#include "io/npy.h"

#include "graph/error.h"
#include "io/atomic_file.h"

#include <cctype>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

// The data section is copied byte for byte between tensors and files, and .npy files are little-endian.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "npy.cpp assumes a little-endian host");

namespace avgraph::host {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicLen = 6;
// numpy aligns the data to 64 bytes so that memory-mapped arrays are aligned for any SIMD load.
constexpr size_t kAlign = 64;
// numpy >= 1.23 leaves room for the first axis to grow to this many digits, so the header can be
// rewritten in place when appending; copying it keeps our files byte-identical to np.save's.
constexpr size_t kGrowthAxisMaxDigits = 21;

struct NpyType {
    const char* descr;
    torch::ScalarType dtype;
};

// Little-endian descriptors as numpy spells them (one-byte types have no byte order, hence '|').
constexpr NpyType kTypes[] = {
    {"<f4", torch::kFloat32}, {"<f8", torch::kFloat64}, {"<i8", torch::kInt64},
    {"<i4", torch::kInt32},   {"|u1", torch::kUInt8},   {"|b1", torch::kBool},
};

const char* supportedList() { return "'<f4', '<f8', '<i8', '<i4', '|u1', '|b1'"; }

std::string shapeRepr(torch::IntArrayRef shape) {
    std::string s = "(";
    for (size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    // A Python 1-tuple needs its trailing comma, or it would read as a parenthesised int.
    return s + (shape.size() == 1 ? ",)" : ")");
}

// ---- header parsing -------------------------------------------------------------------------------

// The header is a Python dict literal. numpy itself evaluates it with ast.literal_eval, and writers other
// than numpy differ in spacing, key order, quotes and trailing commas, so this is a small tolerant parser
// rather than a match against numpy's exact layout.
struct HeaderValue {
    enum class Kind { String, Bool, Tuple, Other } kind = Kind::Other;
    std::string text;
    bool flag = false;
    std::vector<int64_t> ints;
};

class HeaderParser {
public:
    HeaderParser(const fs::path& file, std::string text) : file_(file), s_(std::move(text)) {}

    std::vector<std::pair<std::string, HeaderValue>> parseDict() {
        std::vector<std::pair<std::string, HeaderValue>> entries;
        expect('{');
        while (true) {
            skipSpace();
            if (peek() == '}') {
                ++pos_;
                break;
            }
            std::string key = parseString();
            expect(':');
            entries.emplace_back(key, parseValue());
            skipSpace();
            if (peek() == ',') {
                ++pos_;
                continue;
            }
            expect('}');
            break;
        }
        return entries;
    }

private:
    [[noreturn]] void malformed(const std::string& what) const {
        throw fileError(
            file_, "malformed .npy header (" + what + " at offset " + std::to_string(pos_) + " of \"" + s_ +
                       "\"); expected a dict like {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3)}");
    }
    char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
    void skipSpace() {
        while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_])))
            ++pos_;
    }
    void expect(char c) {
        skipSpace();
        if (peek() != c)
            malformed(std::string("expected '") + c + "'");
        ++pos_;
    }
    std::string parseString() {
        skipSpace();
        char quote = peek();
        if (quote != '\'' && quote != '"')
            malformed("expected a quoted string");
        size_t end = s_.find(quote, pos_ + 1);
        if (end == std::string::npos)
            malformed("unterminated string");
        std::string out = s_.substr(pos_ + 1, end - pos_ - 1);
        pos_ = end + 1;
        return out;
    }
    int64_t parseInt() {
        skipSpace();
        if (!std::isdigit(static_cast<unsigned char>(peek())))
            malformed("expected a non-negative integer");
        int64_t v = 0;
        while (std::isdigit(static_cast<unsigned char>(peek()))) {
            int digit = s_[pos_++] - '0';
            if (v > (std::numeric_limits<int64_t>::max() - digit) / 10)
                malformed("dimension too large");
            v = v * 10 + digit;
        }
        if (peek() == 'L' || peek() == 'l') // Python 2 longs, written by old numpy
            ++pos_;
        return v;
    }
    // Skips a bracketed value we do not interpret (a structured dtype's list), honouring nesting and quotes.
    void skipBracketed() {
        int depth = 0;
        do {
            char c = peek();
            if (c == '\0')
                malformed("unbalanced brackets");
            if (c == '\'' || c == '"') {
                parseString();
                continue;
            }
            if (c == '(' || c == '[' || c == '{')
                ++depth;
            else if (c == ')' || c == ']' || c == '}')
                --depth;
            ++pos_;
        } while (depth > 0);
    }
    HeaderValue parseValue() {
        skipSpace();
        HeaderValue v;
        char c = peek();
        if (c == '\'' || c == '"') {
            v.kind = HeaderValue::Kind::String;
            v.text = parseString();
        } else if (c == '(') {
            v.kind = HeaderValue::Kind::Tuple;
            ++pos_;
            while (true) {
                skipSpace();
                if (peek() == ')') {
                    ++pos_;
                    break;
                }
                v.ints.push_back(parseInt());
                skipSpace();
                if (peek() == ',') {
                    ++pos_;
                    continue;
                }
                expect(')');
                break;
            }
        } else if (c == '[' || c == '{') {
            skipBracketed();
        } else if (std::isalpha(static_cast<unsigned char>(c))) {
            size_t start = pos_;
            while (std::isalnum(static_cast<unsigned char>(peek())) || peek() == '_')
                ++pos_;
            v.text = s_.substr(start, pos_ - start);
            if (v.text == "True" || v.text == "False") {
                v.kind = HeaderValue::Kind::Bool;
                v.flag = v.text == "True";
            }
        } else {
            malformed("unexpected value");
        }
        return v;
    }

    const fs::path& file_;
    std::string s_;
    size_t pos_ = 0;
};

uint32_t readLittleEndian(const unsigned char* p, size_t n) {
    uint32_t v = 0;
    for (size_t i = n; i-- > 0;)
        v = (v << 8) | p[i];
    return v;
}

} // namespace

std::string npyHeader(const std::string& descr, torch::IntArrayRef shape) {
    std::string dict =
        "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shapeRepr(shape) + ", }";
    if (!shape.empty())
        dict.append(kGrowthAxisMaxDigits - std::to_string(shape[0]).size(), ' ');
    // Version 1.0 stores the header length in 16 bits; only a huge shape tuple needs 2.0's 32 bits.
    size_t prefix = kMagicLen + 2 + 2;
    unsigned char major = 1;
    size_t padded = dict.size() + 1; // + the terminating '\n'
    padded += kAlign - (prefix + padded) % kAlign;
    if (padded > std::numeric_limits<uint16_t>::max()) {
        major = 2;
        prefix = kMagicLen + 2 + 4;
        padded = dict.size() + 1;
        padded += kAlign - (prefix + padded) % kAlign;
    }
    std::string header(kMagic, kMagicLen);
    header += char(major);
    header += char(0);
    for (size_t i = 0; i < prefix - kMagicLen - 2; ++i)
        header += char((padded >> (8 * i)) & 0xff);
    header += dict;
    header.append(padded - dict.size() - 1, ' ');
    header += '\n';
    return header;
}

void writeNpy(const fs::path& file, const torch::Tensor& tensor) {
    if (!tensor.defined())
        throw fileError(file, "cannot write an undefined tensor as .npy");
    torch::ScalarType dtype = tensor.scalar_type();
    if (c10::isFloatingType(dtype))
        dtype = torch::kFloat32;
    const char* descr = nullptr;
    for (const auto& t : kTypes)
        if (t.dtype == dtype)
            descr = t.descr;
    if (!descr)
        throw fileError(file, std::string("cannot write a tensor of dtype ") +
                                  c10::toString(tensor.scalar_type()) +
                                  " as .npy; expected a floating, int64, int32, uint8 or bool tensor");
    torch::Tensor data = tensor.to(torch::kCPU, dtype).contiguous();

    const std::string header = npyHeader(descr, data.sizes());

    writeAtomically(file, [&](std::ostream& out) {
        out.write(header.data(), std::streamsize(header.size()));
        out.write(static_cast<const char*>(data.data_ptr()), std::streamsize(data.nbytes()));
    });
}

torch::Tensor readNpy(const fs::path& file) {
    std::error_code ec;
    if (fs::is_directory(file, ec))
        throw fileError(file, "is a folder; expected a .npy file");
    std::ifstream in(file, std::ios::binary);
    if (!in)
        throw fileError(file, std::string("cannot open: ") + std::strerror(errno));

    unsigned char start[kMagicLen + 2] = {};
    in.read(reinterpret_cast<char*>(start), sizeof start);
    if (in.gcount() != std::streamsize(sizeof start) || std::memcmp(start, kMagic, kMagicLen) != 0)
        throw fileError(file, "not a .npy file (bad magic); expected it to start with \"\\x93NUMPY\"");
    const unsigned major = start[kMagicLen];
    if (major < 1 || major > 3)
        throw fileError(file, "unsupported .npy format version " + std::to_string(major) + "." +
                                  std::to_string(start[kMagicLen + 1]) + "; expected 1.0, 2.0 or 3.0");
    const size_t len_bytes = major == 1 ? 2 : 4;
    unsigned char len_field[4] = {};
    in.read(reinterpret_cast<char*>(len_field), std::streamsize(len_bytes));
    if (in.gcount() != std::streamsize(len_bytes))
        throw fileError(file, "truncated .npy header");
    const uint32_t header_len = readLittleEndian(len_field, len_bytes);
    // Real headers are a few hundred bytes; a huge length means a corrupt file, not a huge allocation.
    if (header_len > (1u << 24))
        throw fileError(file, "implausible .npy header length " + std::to_string(header_len) +
                                  "; the file is damaged");
    std::string header(header_len, '\0');
    in.read(header.data(), header_len);
    if (in.gcount() != std::streamsize(header_len))
        throw fileError(file, "truncated .npy header: expected " + std::to_string(header_len) + " bytes");

    std::optional<HeaderValue> descr, fortran, shape;
    for (auto& [key, value] : HeaderParser(file, header).parseDict()) {
        if (key == "descr")
            descr = value;
        else if (key == "fortran_order")
            fortran = value;
        else if (key == "shape")
            shape = value;
    }
    if (!descr || !fortran || !shape)
        throw fileError(file, "the .npy header lacks 'descr', 'fortran_order' or 'shape': " + header);
    if (fortran->kind != HeaderValue::Kind::Bool || shape->kind != HeaderValue::Kind::Tuple)
        throw fileError(
            file, "the .npy header's 'fortran_order' must be True or False and 'shape' a tuple: " + header);
    if (fortran->flag)
        throw fileError(file, "is a Fortran-order (column-major) array; expected C order (save it with "
                              "np.save(path, np.ascontiguousarray(a)))");
    std::optional<torch::ScalarType> dtype;
    if (descr->kind == HeaderValue::Kind::String)
        for (const auto& t : kTypes)
            if (descr->text == t.descr)
                dtype = t.dtype;
    if (!dtype)
        throw fileError(file, "unsupported dtype " +
                                  (descr->kind == HeaderValue::Kind::String ? "'" + descr->text + "'"
                                                                            : std::string("(structured)")) +
                                  "; expected one of " + supportedList());

    std::vector<int64_t> dims = shape->ints;
    const int64_t item = int64_t(c10::elementSize(*dtype));
    int64_t count = 1;
    for (int64_t d : dims) {
        if (d != 0 && count > std::numeric_limits<int64_t>::max() / item / d)
            throw fileError(file, "shape " + shapeRepr(dims) + " is too large to hold in memory");
        count *= d;
    }
    // Bools are read as bytes and compared with zero, since a byte other than 0/1 is not a valid C++ bool.
    torch::Tensor out = torch::empty(dims, *dtype == torch::kBool ? torch::kUInt8 : *dtype);
    const int64_t nbytes = count * item;
    in.read(static_cast<char*>(out.data_ptr()), std::streamsize(nbytes));
    if (in.gcount() != std::streamsize(nbytes))
        throw fileError(file, "truncated data: shape " + shapeRepr(dims) + " of " + descr->text + " needs " +
                                  std::to_string(nbytes) + " bytes, the file holds " +
                                  std::to_string(in.gcount()));
    return *dtype == torch::kBool ? out.ne(0) : out;
}

} // namespace avgraph::host
