/*
 * SHA-256 for tbgpool: one public API over several block transforms.
 *
 * Each implementation file provides one block transform with the signature of
 * tbg_sha256_transform_fn. sha256_dispatch.c picks the fastest transform this
 * CPU supports (after a known-answer self-test); sha256_stream.c and
 * sha256_share.c build streaming SHA-256, double SHA-256 and the Stratum share
 * hash on top of whichever transform is current.
 */
#ifndef TBG_SHA256_H
#define TBG_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Implementation identifiers, valid arguments to the tbg_sha256_impl_* calls. */
#define TBG_SHA256_IMPL_GENERIC 0
#define TBG_SHA256_IMPL_SHANI 1
#define TBG_SHA256_IMPL_ARMV8 2
#define TBG_SHA256_IMPL_COUNT 3

/* Hard limits enforced by tbg_share_hash: anything larger is not a share. */
#define TBG_SHARE_MAX_COINBASE_BYTES ((size_t)1 << 20)
#define TBG_SHARE_MAX_BRANCH_COUNT 64

/* ---- public API (mirrored in tbgpool/_sha256_build.py) ---------------- */

/* Select the best implementation that is available and passes its self-test.
 * The first call detects and selects; later calls return that same selection
 * without undoing a tbg_sha256_use() switch. Returns the implementation id, or
 * -1 if not even the portable implementation passes its self-test (a
 * miscompiled build that must not be used). Safe to call from any thread. */
int tbg_sha256_init(void);

/* Name of implementation `impl` ("generic", "sha-ni", "armv8-crypto"), or
 * NULL for an unknown id. */
const char *tbg_sha256_impl_name(int impl);

/* 1 if `impl` is compiled in and supported by this CPU, else 0. */
int tbg_sha256_impl_available(int impl);

/* Switch to `impl` after running its self-test. 0 on success, -1 if it is
 * unknown, unavailable, or fails the self-test (the current one is kept). */
int tbg_sha256_use(int impl);

/* The implementation currently in use. */
int tbg_sha256_current(void);

/* out = SHA-256(data[0..len)). `data` may be NULL only when len is 0. On a
 * NULL `data` with a non-zero len, out is zero-filled; a NULL out is ignored. */
void tbg_sha256(const uint8_t *data, size_t len, uint8_t out[32]);

/* out = SHA-256(SHA-256(data[0..len))), same pointer rules as tbg_sha256. */
void tbg_sha256d(const uint8_t *data, size_t len, uint8_t out[32]);

/* Hash one Stratum share in one call.
 *
 * coinbase = coinb1 || extranonce1 || extranonce2 || coinb2, its txid is
 * SHA256d(coinbase); the merkle root starts as that txid and for each 32-byte
 * branch hash b (in order) becomes SHA256d(root || b); the 80-byte header is
 * version (LE) || prevhash (as given) || root || ntime (LE) || bits (LE) ||
 * nonce (LE), and out = SHA256d(header) as raw digest bytes.
 *
 * Each byte pointer may be NULL only when its length (or branch_count) is 0;
 * prevhash and out must not be NULL. Returns 0, or -1 (out untouched) on a
 * NULL pointer, a coinbase longer than TBG_SHARE_MAX_COINBASE_BYTES in total,
 * or more than TBG_SHARE_MAX_BRANCH_COUNT branch hashes. */
int tbg_share_hash(const uint8_t *coinb1, size_t coinb1_len,
                   const uint8_t *extranonce1, size_t en1_len,
                   const uint8_t *extranonce2, size_t en2_len,
                   const uint8_t *coinb2, size_t coinb2_len,
                   const uint8_t *merkle_branch, size_t branch_count,
                   uint32_t version, const uint8_t prevhash[32],
                   uint32_t ntime, uint32_t bits, uint32_t nonce,
                   uint8_t out[32]);

/* ---- internal interface between the C files ---------------------------- */

#if defined(__GNUC__)
#define TBG_INTERNAL __attribute__((visibility("hidden")))
#else
#define TBG_INTERNAL
#endif

/* Apply the SHA-256 compression function to `nblocks` consecutive 64-byte
 * blocks, updating `state` (host-order words a..h). */
typedef void (*tbg_sha256_transform_fn)(uint32_t state[8], const uint8_t *blocks,
                                        size_t nblocks);

TBG_INTERNAL void tbg_sha256_transform_generic(uint32_t state[8], const uint8_t *blocks,
                                               size_t nblocks);
#if defined(__x86_64__)
TBG_INTERNAL void tbg_sha256_transform_shani(uint32_t state[8], const uint8_t *blocks,
                                             size_t nblocks);
#endif
#if defined(__aarch64__)
TBG_INTERNAL void tbg_sha256_transform_armv8(uint32_t state[8], const uint8_t *blocks,
                                             size_t nblocks);
#endif

/* The round constants and initial hash value of FIPS 180-4, section 4.2.2 / 5.3.3. */
TBG_INTERNAL extern const uint32_t tbg_sha256_k[64];
TBG_INTERNAL extern const uint32_t tbg_sha256_iv[8];

/* The transform currently selected by the dispatcher (never NULL). */
TBG_INTERNAL tbg_sha256_transform_fn tbg_sha256_current_transform(void);

/* Streaming SHA-256 over an explicit transform. */
typedef struct {
    uint32_t state[8];
    uint8_t buffer[64];
    size_t buffer_len;
    uint64_t total_len;
    tbg_sha256_transform_fn transform;
} tbg_sha256_ctx;

TBG_INTERNAL void tbg_sha256_ctx_init(tbg_sha256_ctx *ctx, tbg_sha256_transform_fn transform);
TBG_INTERNAL void tbg_sha256_ctx_update(tbg_sha256_ctx *ctx, const uint8_t *data, size_t len);
TBG_INTERNAL void tbg_sha256_ctx_final(tbg_sha256_ctx *ctx, uint8_t out[32]);

/* out = SHA-256(in[0..32)): one padded block, the second half of SHA256d. */
TBG_INTERNAL void tbg_sha256_of_digest(tbg_sha256_transform_fn transform, const uint8_t in[32],
                                       uint8_t out[32]);

/* Write state words as the big-endian 32-byte digest. */
TBG_INTERNAL void tbg_sha256_store_digest(const uint32_t state[8], uint8_t out[32]);

#ifdef __cplusplus
}
#endif

#endif /* TBG_SHA256_H */
