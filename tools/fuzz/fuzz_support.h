// Shared by the fuzz targets: a property check that aborts with a message
// (libFuzzer and the replay program both report an abort as a failure), and a
// reader that turns the fuzzer's bytes into choices.
//
// Thread safety: none needed; a fuzz target runs one input at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#define FUZZ_CHECK(cond)                                                                    \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)

namespace conduit::fuzz {

// Consumes the input from the front; reads past the end give zeros, so every
// input is a valid sequence of choices.
class ByteReader {
 public:
  ByteReader(const std::uint8_t* data, std::size_t size) noexcept : p_(data), left_(size) {}
  template <class T>
  T take() noexcept {
    T v{};
    const std::size_t n = left_ < sizeof v ? left_ : sizeof v;
    if (n != 0) std::memcpy(&v, p_, n);
    p_ += n;
    left_ -= n;
    return v;
  }
  // Up to `n` bytes as a view into the input.
  std::string_view bytes(std::size_t n) noexcept {
    if (n > left_) n = left_;
    std::string_view v(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    left_ -= n;
    return v;
  }
  std::string_view rest() noexcept { return bytes(left_); }
  std::size_t left() const noexcept { return left_; }

 private:
  const std::uint8_t* p_;
  std::size_t left_;
};

// True when [p, p + n) lies inside [lo, hi).
inline bool within(const void* p, std::size_t n, const void* lo, const void* hi) noexcept {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= static_cast<const std::byte*>(lo) && b + n <= static_cast<const std::byte*>(hi);
}

}  // namespace conduit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
