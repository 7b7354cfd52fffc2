/*
 * Streaming SHA-256 (init/update/final) and SHA256d, written once over a
 * block transform pointer so every implementation shares the padding logic.
 */
#include <string.h>

#include "sha256.h"

static inline void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void store_be64(uint8_t *p, uint64_t v)
{
    store_be32(p, (uint32_t)(v >> 32));
    store_be32(p + 4, (uint32_t)v);
}

void tbg_sha256_store_digest(const uint32_t state[8], uint8_t out[32])
{
    unsigned i;

    for (i = 0; i < 8; i++)
        store_be32(out + 4 * i, state[i]);
}

void tbg_sha256_ctx_init(tbg_sha256_ctx *ctx, tbg_sha256_transform_fn transform)
{
    memcpy(ctx->state, tbg_sha256_iv, sizeof ctx->state);
    ctx->buffer_len = 0;
    ctx->total_len = 0;
    ctx->transform = transform;
}

void tbg_sha256_ctx_update(tbg_sha256_ctx *ctx, const uint8_t *data, size_t len)
{
    size_t whole_blocks;

    if (len == 0)
        return;
    ctx->total_len += (uint64_t)len;

    if (ctx->buffer_len > 0) {
        size_t room = sizeof ctx->buffer - ctx->buffer_len;
        size_t take = len < room ? len : room;

        memcpy(ctx->buffer + ctx->buffer_len, data, take);
        ctx->buffer_len += take;
        data += take;
        len -= take;
        if (ctx->buffer_len < sizeof ctx->buffer)
            return;
        ctx->transform(ctx->state, ctx->buffer, 1);
        ctx->buffer_len = 0;
    }

    /* Whole blocks straight from the caller's memory, in one transform call. */
    whole_blocks = len / 64;
    if (whole_blocks > 0) {
        ctx->transform(ctx->state, data, whole_blocks);
        data += whole_blocks * 64;
        len -= whole_blocks * 64;
    }

    if (len > 0) {
        memcpy(ctx->buffer, data, len);
        ctx->buffer_len = len;
    }
}

void tbg_sha256_ctx_final(tbg_sha256_ctx *ctx, uint8_t out[32])
{
    /* Room for the 0x80 marker and 64-bit bit length: at most two blocks. */
    uint8_t tail[128];
    size_t tail_len = ctx->buffer_len < 56 ? 64 : 128;

    memset(tail, 0, sizeof tail);
    memcpy(tail, ctx->buffer, ctx->buffer_len);
    tail[ctx->buffer_len] = 0x80;
    /* SHA-256 defines the length modulo 2^64 bits. */
    store_be64(tail + tail_len - 8, ctx->total_len << 3);
    ctx->transform(ctx->state, tail, tail_len / 64);
    tbg_sha256_store_digest(ctx->state, out);
}

void tbg_sha256_of_digest(tbg_sha256_transform_fn transform, const uint8_t in[32],
                          uint8_t out[32])
{
    uint8_t block[64];
    uint32_t state[8];

    memcpy(block, in, 32);
    memset(block + 32, 0, 32);
    block[32] = 0x80;
    store_be64(block + 56, 32 * 8);
    memcpy(state, tbg_sha256_iv, sizeof state);
    transform(state, block, 1);
    tbg_sha256_store_digest(state, out);
}

void tbg_sha256(const uint8_t *data, size_t len, uint8_t out[32])
{
    tbg_sha256_ctx ctx;

    if (out == NULL)
        return;
    if (data == NULL && len != 0) {
        memset(out, 0, 32);
        return;
    }
    tbg_sha256_ctx_init(&ctx, tbg_sha256_current_transform());
    tbg_sha256_ctx_update(&ctx, data, len);
    tbg_sha256_ctx_final(&ctx, out);
}

void tbg_sha256d(const uint8_t *data, size_t len, uint8_t out[32])
{
    tbg_sha256_ctx ctx;
    uint8_t first[32];

    if (out == NULL)
        return;
    if (data == NULL && len != 0) {
        memset(out, 0, 32);
        return;
    }
    tbg_sha256_ctx_init(&ctx, tbg_sha256_current_transform());
    tbg_sha256_ctx_update(&ctx, data, len);
    tbg_sha256_ctx_final(&ctx, first);
    tbg_sha256_of_digest(ctx.transform, first, out);
}
