/* conduit — what libconduit.so exports.
 *
 * The library compiles with hidden visibility; CONDUIT_EXPORT marks the
 * public API (C++ classes and functions of include/conduit/, and the C API
 * of conduit_c.h), the only symbols the shared library exports. Plain C so
 * that conduit_c.h can include it. */
#ifndef CONDUIT_EXPORT_H
#define CONDUIT_EXPORT_H

#if defined(__cplusplus) && (defined(__GNUC__) || defined(__clang__))
/* The standard attribute form: it may follow [[nodiscard]] on a class. */
#define CONDUIT_EXPORT [[gnu::visibility("default")]]
#elif defined(__GNUC__) || defined(__clang__)
#define CONDUIT_EXPORT __attribute__((visibility("default")))
#else
#define CONDUIT_EXPORT
#endif

#endif /* CONDUIT_EXPORT_H */
