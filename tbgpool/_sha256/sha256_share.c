/*
 * The Stratum share hash: coinbase -> txid -> merkle root -> header -> SHA256d,
 * in one C call so the per-share hot path crosses the FFI boundary once.
 */
#include <string.h>

#include "sha256.h"

static inline void store_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* A byte range is acceptable when it has memory behind it or is empty. */
static inline int range_ok(const uint8_t *p, size_t len)
{
    return p != NULL || len == 0;
}

/* out = SHA256d(left || right) for two 32-byte hashes: the merkle node step. */
static void merkle_node(tbg_sha256_transform_fn transform, const uint8_t left[32],
                        const uint8_t right[32], uint8_t out[32])
{
    /* 64 bytes of data, then the constant padding block for a 512-bit message. */
    uint8_t blocks[128];
    uint32_t state[8];
    uint8_t first[32];

    memcpy(blocks, left, 32);
    memcpy(blocks + 32, right, 32);
    memset(blocks + 64, 0, 64);
    blocks[64] = 0x80;
    blocks[126] = 0x02; /* bit length 512 = 0x0200, big-endian in the last 8 bytes */
    memcpy(state, tbg_sha256_iv, sizeof state);
    transform(state, blocks, 2);
    tbg_sha256_store_digest(state, first);
    tbg_sha256_of_digest(transform, first, out);
}

/* out = SHA256d(header) for the 80-byte block header. */
static void header_hash(tbg_sha256_transform_fn transform, const uint8_t header[80],
                        uint8_t out[32])
{
    uint8_t blocks[128];
    uint32_t state[8];
    uint8_t first[32];

    memcpy(blocks, header, 80);
    memset(blocks + 80, 0, 48);
    blocks[80] = 0x80;
    blocks[126] = 0x02; /* bit length 640 = 0x0280 */
    blocks[127] = 0x80;
    memcpy(state, tbg_sha256_iv, sizeof state);
    transform(state, blocks, 2);
    tbg_sha256_store_digest(state, first);
    tbg_sha256_of_digest(transform, first, out);
}

int tbg_share_hash(const uint8_t *coinb1, size_t coinb1_len,
                   const uint8_t *extranonce1, size_t en1_len,
                   const uint8_t *extranonce2, size_t en2_len,
                   const uint8_t *coinb2, size_t coinb2_len,
                   const uint8_t *merkle_branch, size_t branch_count,
                   uint32_t version, const uint8_t prevhash[32],
                   uint32_t ntime, uint32_t bits, uint32_t nonce,
                   uint8_t out[32])
{
    const size_t max_coinbase = TBG_SHARE_MAX_COINBASE_BYTES;
    tbg_sha256_transform_fn transform;
    tbg_sha256_ctx ctx;
    uint8_t first[32];
    uint8_t root[32];
    uint8_t header[80];
    size_t i;

    if (out == NULL || prevhash == NULL)
        return -1;
    if (!range_ok(coinb1, coinb1_len) || !range_ok(extranonce1, en1_len) ||
        !range_ok(extranonce2, en2_len) || !range_ok(coinb2, coinb2_len) ||
        !range_ok(merkle_branch, branch_count))
        return -1;
    if (branch_count > TBG_SHARE_MAX_BRANCH_COUNT)
        return -1;
    /* Checked piece by piece so the running sum cannot wrap around. */
    if (coinb1_len > max_coinbase || en1_len > max_coinbase - coinb1_len ||
        en2_len > max_coinbase - coinb1_len - en1_len ||
        coinb2_len > max_coinbase - coinb1_len - en1_len - en2_len)
        return -1;

    /* One transform for the whole share, even if another thread switches. */
    transform = tbg_sha256_current_transform();

    tbg_sha256_ctx_init(&ctx, transform);
    tbg_sha256_ctx_update(&ctx, coinb1, coinb1_len);
    tbg_sha256_ctx_update(&ctx, extranonce1, en1_len);
    tbg_sha256_ctx_update(&ctx, extranonce2, en2_len);
    tbg_sha256_ctx_update(&ctx, coinb2, coinb2_len);
    tbg_sha256_ctx_final(&ctx, first);
    tbg_sha256_of_digest(transform, first, root);

    for (i = 0; i < branch_count; i++)
        merkle_node(transform, root, merkle_branch + 32 * i, root);

    store_le32(header, version);
    memcpy(header + 4, prevhash, 32);
    memcpy(header + 36, root, 32);
    store_le32(header + 68, ntime);
    store_le32(header + 72, bits);
    store_le32(header + 76, nonce);
    header_hash(transform, header, out);
    return 0;
}
