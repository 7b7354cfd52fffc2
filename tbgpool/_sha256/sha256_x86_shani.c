/*
 * SHA-256 block transform with the Intel SHA extensions (SHA-NI).
 *
 * Compiled for every x86-64 build with a per-function target attribute, so
 * the rest of the module keeps the baseline ISA; the dispatcher only calls it
 * after cpuid reports SHA, SSE4.1 and SSSE3 and the self-test passes.
 *
 * sha256rnds2 works on the state split as ABEF / CDGH (A in the top lane) and
 * performs two rounds from the low half of a (message + constant) vector, so a
 * group of four rounds is two sha256rnds2 calls. sha256msg1/sha256msg2 produce
 * the message schedule four words at a time.
 */
#include "sha256.h"

#if defined(__x86_64__)

#include <immintrin.h>

#define TBG_SHANI_TARGET __attribute__((target("sha,sse4.1")))

/*
 * Four rounds using schedule words `msg` (W[4q..4q+3]) and K[4q..4q+3].
 * On entry state0 = ABEF and state1 = CDGH. The first sha256rnds2 leaves the
 * new ABEF in state1 (the old ABEF is now the CDGH); the second restores the
 * roles, so on exit state0 = ABEF and state1 = CDGH again.
 */
#define QUAD_ROUND(msg, q)                                                                        \
    do {                                                                                          \
        const __m128i wk_ =                                                                       \
            _mm_add_epi32((msg), _mm_loadu_si128((const __m128i *)&tbg_sha256_k[4 * (q)]));        \
        state1 = _mm_sha256rnds2_epu32(state1, state0, wk_);                                      \
        state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(wk_, 0x0e));             \
    } while (0)

/*
 * Next four schedule words from the previous sixteen: on entry w16..w4 hold
 * W[t-16..t-13], W[t-12..t-9], W[t-8..t-5], W[t-4..t-1]; on exit w16 holds
 * W[t..t+3]. msg1 adds sigma0, alignr supplies W[t-7..t-4], msg2 adds sigma1.
 */
#define SCHEDULE(w16, w12, w8, w4)                                                                \
    ((w16) = _mm_sha256msg2_epu32(                                                                \
         _mm_add_epi32(_mm_sha256msg1_epu32((w16), (w12)), _mm_alignr_epi8((w4), (w8), 4)), (w4)))

TBG_SHANI_TARGET
void tbg_sha256_transform_shani(uint32_t state[8], const uint8_t *blocks, size_t nblocks)
{
    /* Reverses the bytes of each 32-bit lane: message words are big-endian. */
    const __m128i bswap32 = _mm_set_epi8(12, 13, 14, 15, 8, 9, 10, 11, 4, 5, 6, 7, 0, 1, 2, 3);
    const __m128i abcd = _mm_loadu_si128((const __m128i *)&state[0]);
    const __m128i efgh = _mm_loadu_si128((const __m128i *)&state[4]);
    const __m128i badc = _mm_shuffle_epi32(abcd, 0xb1);
    const __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1b);
    __m128i state0 = _mm_alignr_epi8(badc, hgfe, 8);   /* lanes (low..high) F E B A */
    __m128i state1 = _mm_blend_epi16(hgfe, badc, 0xf0); /* lanes (low..high) H G D C */
    __m128i abcd_out, efgh_out, t0, t1;

    while (nblocks-- > 0) {
        const __m128i saved0 = state0;
        const __m128i saved1 = state1;
        __m128i m0 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 0)), bswap32);
        __m128i m1 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 16)), bswap32);
        __m128i m2 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 32)), bswap32);
        __m128i m3 = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(blocks + 48)), bswap32);
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

        state0 = _mm_add_epi32(state0, saved0);
        state1 = _mm_add_epi32(state1, saved1);
        blocks += 64;
    }

    /* Back from ABEF / CDGH to ABCD / EFGH. */
    t0 = _mm_shuffle_epi32(state0, 0x1b); /* A B E F */
    t1 = _mm_shuffle_epi32(state1, 0xb1); /* G H C D */
    abcd_out = _mm_blend_epi16(t0, t1, 0xf0);
    efgh_out = _mm_alignr_epi8(t1, t0, 8);
    _mm_storeu_si128((__m128i *)&state[0], abcd_out);
    _mm_storeu_si128((__m128i *)&state[4], efgh_out);
}

#else

/* ISO C forbids an empty translation unit. */
typedef int tbg_sha256_x86_shani_unused;

#endif /* __x86_64__ */
