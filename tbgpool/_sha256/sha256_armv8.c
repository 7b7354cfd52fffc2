/*
 * SHA-256 block transform with the ARMv8 Cryptography Extensions.
 *
 * Compiled for every AArch64 build with a per-function target attribute; the
 * dispatcher only calls it after the kernel reports HWCAP_SHA2 and the
 * self-test passes.
 *
 * SHA256H/SHA256H2 perform four rounds on the state kept as ABCD / EFGH
 * vectors; SHA256SU0/SHA256SU1 produce the message schedule four words at a
 * time.
 */
#include "sha256.h"

#if defined(__aarch64__)

#include <arm_neon.h>

#if defined(__clang__)
#define TBG_ARMV8_TARGET __attribute__((target("crypto")))
#else
#define TBG_ARMV8_TARGET __attribute__((target("+crypto")))
#endif

/*
 * Four rounds using schedule words `msg` (W[4q..4q+3]) and K[4q..4q+3].
 * SHA256H2 needs the ABCD from before SHA256H, hence the copy.
 */
#define QUAD_ROUND(msg, q)                                                                        \
    do {                                                                                          \
        const uint32x4_t wk_ = vaddq_u32((msg), vld1q_u32(&tbg_sha256_k[4 * (q)]));               \
        const uint32x4_t abcd_before_ = abcd;                                                     \
        abcd = vsha256hq_u32(abcd, efgh, wk_);                                                    \
        efgh = vsha256h2q_u32(efgh, abcd_before_, wk_);                                           \
    } while (0)

/*
 * Next four schedule words: on entry w16..w4 hold W[t-16..t-13], W[t-12..t-9],
 * W[t-8..t-5], W[t-4..t-1]; on exit w16 holds W[t..t+3].
 */
#define SCHEDULE(w16, w12, w8, w4) ((w16) = vsha256su1q_u32(vsha256su0q_u32((w16), (w12)), (w8), (w4)))

/* One 64-byte block as four vectors of big-endian message words. */
#define LOAD_WORDS(p) vreinterpretq_u32_u8(vrev32q_u8(vld1q_u8(p)))

TBG_ARMV8_TARGET
void tbg_sha256_transform_armv8(uint32_t state[8], const uint8_t *blocks, size_t nblocks)
{
    uint32x4_t abcd = vld1q_u32(&state[0]);
    uint32x4_t efgh = vld1q_u32(&state[4]);

    while (nblocks-- > 0) {
        const uint32x4_t saved_abcd = abcd;
        const uint32x4_t saved_efgh = efgh;
        uint32x4_t m0 = LOAD_WORDS(blocks + 0);
        uint32x4_t m1 = LOAD_WORDS(blocks + 16);
        uint32x4_t m2 = LOAD_WORDS(blocks + 32);
        uint32x4_t m3 = LOAD_WORDS(blocks + 48);
        int q;

        QUAD_ROUND(m0, 0);
        QUAD_ROUND(m1, 1);
        QUAD_ROUND(m2, 2);
        QUAD_ROUND(m3, 3);
        for (q = 4; q < 16; q += 4) {
            SCHEDULE(m0, m1, m2, m3);
            QUAD_ROUND(m0, q);
            SCHEDULE(m1, m2, m3, m0);
            QUAD_ROUND(m1, q + 1);
            SCHEDULE(m2, m3, m0, m1);
            QUAD_ROUND(m2, q + 2);
            SCHEDULE(m3, m0, m1, m2);
            QUAD_ROUND(m3, q + 3);
        }

        abcd = vaddq_u32(abcd, saved_abcd);
        efgh = vaddq_u32(efgh, saved_efgh);
        blocks += 64;
    }

    vst1q_u32(&state[0], abcd);
    vst1q_u32(&state[4], efgh);
}

#else

/* ISO C forbids an empty translation unit. */
typedef int tbg_sha256_armv8_unused;

#endif /* __aarch64__ */
